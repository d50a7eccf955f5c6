/**
 * The protocol era in the CLI: `status` counts modern clients beside the total, `inspect` and
 * `inspect --at` have an ERA column, `tail` says the era of each connect and disconnect. Real state
 * files of a server no test process runs (test/helpers/snapshot-files.ts): a legacy session, one of
 * a writer from before eras were recorded (no `era`: legacy) and modern clients.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Proc, cleanup, makeStateDir, run } from './helpers/processes.js';
import { jsonLines } from './helpers/server-process.js';
import { appendJournal, connectionOf, writeSnapshot } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(cleanup);

const ID = 'ext';
const PID = process.pid;
const T0 = Date.now() - 60_000;
const iso = (dt: number) => new Date(T0 + dt).toISOString();
const MODERN_A = 'm-00000000000000aa';
const MODERN_B = 'm-00000000000000bb';
const MODERN_C = 'm-00000000000000cc';

const legacy = connectionOf('L-1', { era: 'legacy', connectedAt: iso(1000), clientInfo: { name: 'v1-client', version: '1.0.0' } });
const old = connectionOf('O-1', { connectedAt: iso(2000), clientInfo: { name: 'old-writer-client', version: '0.1' } });
const modernB = connectionOf(MODERN_B, { era: 'modern', connectedAt: iso(20_000), protocolVersion: '2026-07-28', lastMethod: 'tools/call', clientInfo: { name: 'v2-auto', version: '2.0.0' } });

/** A state directory with a journal of both eras and a snapshot of three connections now. */
async function stateDirOfBothEras(): Promise<string> {
  const stateDir = await makeStateDir();
  const connect = (dt: number, c: object) => ({ event: 'connect', ts: iso(dt), pid: PID, seq: 2, ...c });
  await appendJournal(stateDir, ID, [
    { event: 'start', ts: iso(0), pid: PID, seq: 1, startedAt: iso(0), heartbeatMs: 60_000 },
    connect(1000, legacy),
    // A line of a writer from before eras were recorded: no era.
    connect(2000, old),
    connect(3000, connectionOf(MODERN_A, { era: 'modern', connectedAt: iso(3000), protocolVersion: '2026-07-28', clientInfo: { name: 'v2-gone', version: '2.0.0' } })),
    { event: 'disconnect', ts: iso(10_000), pid: PID, seq: 3, sessionId: MODERN_A, era: 'modern', reason: 'idle', durationMs: 7000, requestCount: 3 },
    connect(20_000, modernB),
  ]);
  await writeSnapshot(stateDir, ID, { startedAt: iso(0), totalConnections: 4, connections: [legacy, old, modernB] });
  return stateDir;
}

describe('status: active connections by era', () => {
  it('keeps one line per server: ACTIVE is the total, MODERN the sessionless part; --json has activeByEra', async () => {
    const stateDir = await stateDirOfBothEras();
    const r = await run(['status', '--state-dir', stateDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^SERVER\s+STATUS\s+PID\s+STARTED\s+UPTIME\s+ACTIVE\s+MODERN\s+TOTAL\s+HEARTBEAT\s+MCP URL$/);
    expect(lines[1]).toMatch(new RegExp(`^${ID}\\s+running\\s+${PID}\\s+\\S+Z\\s+.+?\\s{2,}3\\s{2,}1\\s{2,}4\\s{2,}\\d`));
    const j = JSON.parse((await run(['status', '--state-dir', stateDir, '--json'])).stdout);
    expect(j.servers[0]).toMatchObject({ serverId: ID, activeConnections: 3, activeByEra: { legacy: 2, modern: 1 }, totalConnections: 4 });
  });
});

describe('inspect: the ERA column', () => {
  it('shows the era of each connection now, and at a time from the journal (lines without era are legacy)', async () => {
    const stateDir = await stateDirOfBothEras();
    const now = await run(['inspect', '--state-dir', stateDir]);
    expect(now.code).toBe(0);
    expect(now.stdout).toMatch(/SESSION\s+ERA\s+IP\s+CLIENT/);
    expect(now.stdout).toMatch(/ L-1\s+legacy\s+127\.0\.0\.1\s+v1-client 1\.0\.0/);
    expect(now.stdout).toMatch(/ O-1\s+legacy\s+127\.0\.0\.1\s+old-writer-client 0\.1/);
    expect(now.stdout).toMatch(new RegExp(` ${MODERN_B}\\s+modern\\s+127\\.0\\.0\\.1\\s+v2-auto 2\\.0\\.0`));
    expect(now.stdout).toMatch(/sessions {3}3 active \(1 modern\), 4 total/);

    const at = async (dt: number) => {
      const r = await run(['inspect', '--state-dir', stateDir, '--json', '--at', iso(dt)]);
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout).servers[0].connections as { sessionId: string; era: string }[]).map((c) => [c.sessionId, c.era]);
    };
    expect(await at(5000)).toEqual([['L-1', 'legacy'], ['O-1', 'legacy'], [MODERN_A, 'modern']]);
    // The modern client left (idle) at 10 s.
    expect(await at(15_000)).toEqual([['L-1', 'legacy'], ['O-1', 'legacy']]);

    const human = await run(['inspect', '--state-dir', stateDir, '--at', iso(5000)]);
    expect(human.stdout).toMatch(/SESSION\s+ERA\s+IP/);
    expect(human.stdout).toMatch(new RegExp(` ${MODERN_A}\\s+modern\\s+127\\.0\\.0\\.1\\s+v2-gone 2\\.0\\.0`));
    expect(human.stdout).toMatch(/ O-1\s+legacy\s+/);
  });
});

describe('tail: the era of each connect and disconnect', () => {
  it('says it in --json and in the human lines, from the snapshot and the journal', async () => {
    const stateDir = await stateDirOfBothEras();
    const json = new Proc(['tail', '--json', '--state-dir', stateDir]);
    const human = new Proc(['tail', '--state-dir', stateDir]);
    const state = await waitFor(() => jsonLines(json).find((e) => e.event === 'state'), { what: 'the state' });
    expect(state.connections.map((c: { sessionId: string; era?: string }) => [c.sessionId, c.era])).toEqual([['L-1', 'legacy'], ['O-1', undefined], [MODERN_B, 'modern']]);
    await waitFor(() => human.stdout.filter((l) => l.includes(' open ')).length === 3, { what: 'the open connections' });
    expect(human.stdout.find((l) => l.includes(MODERN_B))).toMatch(new RegExp(`${ID}\\s+open\\s+${MODERN_B} \\(modern\\) from 127\\.0\\.0\\.1, v2-auto 2\\.0\\.0`));
    expect(human.stdout.find((l) => l.includes(' O-1 '))).toMatch(/open\s+O-1 \(legacy\) from/);

    // A modern client arrives, then leaves after the client window.
    const modernC = connectionOf(MODERN_C, { era: 'modern', protocolVersion: '2026-07-28', clientInfo: { name: 'v2-new', version: '2.1.0' } });
    await appendJournal(stateDir, ID, [{ event: 'connect', ts: new Date().toISOString(), pid: PID, seq: 4, ...modernC }]);
    await writeSnapshot(stateDir, ID, { startedAt: iso(0), totalConnections: 5, connections: [legacy, old, modernB, modernC] });
    const connect = await waitFor(() => jsonLines(json).find((e) => e.event === 'connect' && e.sessionId === MODERN_C), { what: 'the modern connect' });
    expect(connect).toMatchObject({ era: 'modern', clientInfo: { name: 'v2-new' } });
    await appendJournal(stateDir, ID, [{ event: 'disconnect', ts: new Date().toISOString(), pid: PID, seq: 5, sessionId: MODERN_C, era: 'modern', reason: 'idle', durationMs: 1500, requestCount: 2 }]);
    await writeSnapshot(stateDir, ID, { startedAt: iso(0), totalConnections: 5, connections: [legacy, old, modernB] });
    const left = await waitFor(() => jsonLines(json).find((e) => e.event === 'disconnect' && e.sessionId === MODERN_C), { what: 'the modern disconnect' });
    expect(left).toMatchObject({ era: 'modern', reason: 'idle', requestCount: 2 });

    await waitFor(() => human.stdout.some((l) => / disconnect /.test(l)), { what: 'the human disconnect line' });
    expect(human.stdout.find((l) => / connect /.test(l))).toMatch(new RegExp(`${ID} connect\\s+${MODERN_C} \\(modern\\) from 127\\.0\\.0\\.1, v2-new 2\\.1\\.0`));
    expect(human.stdout.find((l) => / disconnect /.test(l))).toMatch(new RegExp(`${ID} disconnect ${MODERN_C} \\(modern, 127\\.0\\.0\\.1, v2-new 2\\.1\\.0\\) reason idle after \\S+, 2 requests$`));
    expect((await json.stop('SIGINT')).code).toBe(0);
    expect((await human.stop('SIGINT')).code).toBe(0);
  });
});
