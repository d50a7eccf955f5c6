/**
 * `tail` tells writers apart by (pid, startedAt), from hand-written state files: a restart
 * that gets the same pid is a restart, a pid that an earlier writer had is followed again, and a
 * pid that looks dead does not end a writer whose lock and heartbeat are fresh.
 */
import { appendFile, mkdir, rename, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serializeJournalLine, type JournalLine } from '../shared/journal.js';
import { SNAPSHOT_SCHEMA, type Connection } from '../shared/snapshot.js';
import { Proc, cleanup, makeStateDir } from './helpers/processes.js';
import { jsonLines } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(cleanup);

/** A pid that runs no process here (above the kernel's pid_max of 2^22). */
const NO_SUCH_PID = 4_194_305;

async function stateDirFor() {
  const stateDir = await makeStateDir();
  const dir = path.join(stateDir, 'default');
  await mkdir(dir);
  // The writer's lock, just refreshed: a live writer as far as the lock says.
  await mkdir(path.join(dir, 'snapshot.json.lock'));
  let n = 0;
  const journal = (lines: JournalLine[]) => appendFile(path.join(dir, 'events.jsonl'), lines.map(serializeJournalLine).join(''));
  /** Replaces the snapshot atomically, as the writer does. */
  const snapshot = async (pid: number, startedAt: string, seq: number, connections: Connection[]) => {
    const now = new Date().toISOString();
    const tmp = path.join(dir, `snapshot.json.${++n}`);
    await writeFile(tmp, `${JSON.stringify({
      schema: SNAPSHOT_SCHEMA, serverId: 'default', pid, seq, status: 'running', reason: 'connect', startedAt, writtenAt: now, heartbeatMs: 60_000,
      mcp: { url: 'http://127.0.0.1:1/mcp', endpoint: '/mcp', port: 1 }, activeConnections: connections.length, totalConnections: 9, lastUpdated: now, connections,
    })}\n`);
    await rename(tmp, path.join(dir, 'snapshot.json'));
  };
  return { stateDir, dir, journal, snapshot };
}

const conn = (sessionId: string): Connection => {
  const now = new Date().toISOString();
  return { sessionId, clientIP: '10.0.0.1', userAgent: 'ua', connectedAt: now, lastActivity: now, requestCount: 1, clientInfo: { name: sessionId, version: '1' }, protocolVersion: '2025-06-18' };
};
const start = (pid: number, startedAt: string): JournalLine => ({ event: 'start', ts: new Date().toISOString(), pid, seq: 1, startedAt, heartbeatMs: 60_000 });
const connect = (pid: number, c: Connection): JournalLine => ({ event: 'connect', ts: new Date().toISOString(), pid, seq: 2, ...c });

function waitEvent(tail: Proc, pred: (e: any) => boolean, what: string): Promise<any> {
  return waitFor(() => jsonLines(tail).find(pred), { timeout: 15_000, what: `${what} (tail printed: ${tail.stdout.slice(-4).join(' | ')}; stderr: ${tail.stderr.slice(-2).join(' | ')})` });
}

describe('tail: writers are (pid, startedAt)', () => {
  it('reports a restart that gets the same pid, and the old sessions as lost with their writer', async () => {
    const { stateDir, journal, snapshot } = await stateDirFor();
    const pid = process.pid;
    const s1 = '2026-11-24T10:00:00.000Z';
    await journal([start(pid, s1), connect(pid, conn('old-1'))]);
    await snapshot(pid, s1, 2, [conn('old-1')]);
    const tail = new Proc(['tail', '--json', '--state-dir', stateDir]);
    await waitEvent(tail, (e) => e.event === 'state' && e.connections.length === 1, 'the state');

    // The same pid again (containers), another start, even an earlier one (clock stepped back).
    const s2 = '2026-11-24T09:00:00.000Z';
    await journal([start(pid, s2), connect(pid, conn('new-1'))]);
    await snapshot(pid, s2, 2, [conn('new-1')]);
    const restart = await waitEvent(tail, (e) => e.event === 'start', 'the restart');
    expect(restart).toMatchObject({ pid, startedAt: s2, restart: true, previousPid: pid, previousStoppedCleanly: false });
    await waitEvent(tail, (e) => e.event === 'connect' && e.sessionId === 'new-1', 'the new session');
    expect(jsonLines(tail).filter((e) => e.event === 'disconnect').map((e) => [e.sessionId, e.reason])).toEqual([['old-1', 'writer-died']]);
    expect((await tail.stop('SIGINT')).code).toBe(0);
  });

  it('follows a writer that gets a pid an earlier writer had (A:7, B:25, C:7)', async () => {
    const { stateDir, journal, snapshot } = await stateDirFor();
    const [a, b] = [process.pid, NO_SUCH_PID];
    await journal([start(a, '2026-11-24T10:00:00.000Z')]);
    await snapshot(a, '2026-11-24T10:00:00.000Z', 1, []);
    const tail = new Proc(['tail', '--json', '--state-dir', stateDir]);
    await waitEvent(tail, (e) => e.event === 'state', 'the state');

    await journal([start(b, '2026-11-24T10:01:00.000Z'), connect(b, conn('b-1'))]);
    await snapshot(b, '2026-11-24T10:01:00.000Z', 2, [conn('b-1')]);
    await waitEvent(tail, (e) => e.event === 'connect' && e.sessionId === 'b-1', 'B and its session');

    await journal([start(a, '2026-11-24T10:02:00.000Z'), connect(a, conn('c-1'))]);
    await snapshot(a, '2026-11-24T10:02:00.000Z', 2, [conn('c-1')]);
    const c = await waitEvent(tail, (e) => e.event === 'start' && e.pid === a && e.startedAt === '2026-11-24T10:02:00.000Z', 'C, with A’s pid');
    expect(c).toMatchObject({ restart: true, previousPid: b });
    await waitEvent(tail, (e) => e.event === 'connect' && e.sessionId === 'c-1', 'C’s session');
    const events = jsonLines(tail);
    // B's pid runs nowhere, but its lock and heartbeat were fresh: never called stale or dead.
    expect(events.filter((e) => e.event === 'stale')).toEqual([]);
    expect(events.filter((e) => e.event === 'disconnect').map((e) => [e.sessionId, e.reason])).toEqual([['b-1', 'writer-died']]);
    expect((await tail.stop('SIGINT')).code).toBe(0);
  });

  it('ends a writer whose lock is no longer refreshed, though its pid runs (the pid is only a hint)', async () => {
    const { stateDir, dir, journal, snapshot } = await stateDirFor();
    const startedAt = new Date().toISOString();
    await journal([start(process.pid, startedAt), connect(process.pid, conn('held'))]);
    await snapshot(process.pid, startedAt, 2, [conn('held')]);
    const tail = new Proc(['tail', '--json', '--state-dir', stateDir]);
    await waitEvent(tail, (e) => e.event === 'state' && e.verdict === 'running', 'the state');
    // The lock was last refreshed a minute ago: its holder is gone (its pid, ours, runs on).
    const old = new Date(Date.now() - 60_000);
    await utimes(path.join(dir, 'snapshot.json.lock'), old, old);
    const stale = await waitEvent(tail, (e) => e.event === 'stale', 'the stale writer');
    expect(stale.why.join('; ')).toMatch(/the lock was last refreshed/);
    expect(await waitEvent(tail, (e) => e.event === 'disconnect', 'its session lost')).toMatchObject({ sessionId: 'held', reason: 'writer-died' });
    expect((await tail.stop('SIGINT')).code).toBe(0);
  });
});
