/**
 * `mcp-monitor tail` against real writers: a state directory that appears later, every
 * disconnect reason, a killed writer and its restart (alone and under the API), the human
 * format, and GNU `tail -F` on the snapshot itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSnapshot } from '../shared/snapshot.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { Proc, cleanup, makeStateDir, startApi } from './helpers/processes.js';
import { jsonLines, startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const others = new Set<ChildProcess>();

afterEach(async () => {
  for (const c of others) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  others.clear();
  await closeClients();
  await cleanup();
});

function waitEvent(tail: Proc, pred: (e: any) => boolean, what: string, timeout = 15_000): Promise<any> {
  return waitFor(() => jsonLines(tail).find(pred), { timeout, what: `${what} (tail printed: ${tail.stdout.slice(-4).join(' | ')}; stderr: ${tail.stderr.slice(-2).join(' | ')})` });
}

describe('tail --json', () => {
  it('waits for the state directory, then follows sessions, a killed writer and its restart', async () => {
    const dir = path.join(await makeStateDir(), 'later');
    const tail = new Proc(['tail', '--json', '--state-dir', dir]);
    await waitFor(() => tail.stderr.some((l) => /no such directory yet; waiting/.test(l)), { what: 'tail to say it waits' });

    // Idle sessions end soon (the second client's), but not before a loaded machine lets the first one call.
    const first = await startServer({ stateDir: dir, args: ['--session-idle-ms', '3000'] });
    await waitEvent(tail, (e) => e.event === 'start' && e.pid === first.proc.pid, 'the start');
    expect(jsonLines(tail).find((e) => e.event === 'start')).toMatchObject({ serverId: 'default', restart: false, previousPid: null });
    await waitEvent(tail, (e) => e.event === 'running' && e.mcpUrl === first.url, 'running');

    const a = await connectClient(first.url, { name: 'tail-client', version: '3.1', userAgent: 'tail-agent/1' });
    const connect = await waitEvent(tail, (e) => e.event === 'connect' && e.sessionId === a.sessionId, 'the connect');
    expect(connect).toMatchObject({ serverId: 'default', pid: first.proc.pid, clientIP: '127.0.0.1', userAgent: 'tail-agent/1', clientInfo: { name: 'tail-client', version: '3.1' }, era: 'legacy' });
    await a.client.listTools();
    await a.terminate();
    const left = await waitEvent(tail, (e) => e.event === 'disconnect' && e.sessionId === a.sessionId, 'the disconnect');
    expect(left).toMatchObject({ reason: 'delete', clientIP: '127.0.0.1', clientInfo: { name: 'tail-client' }, era: 'legacy' });
    expect(left.requestCount).toBeGreaterThanOrEqual(2);
    expect(left.durationMs).toBeGreaterThanOrEqual(0);

    const b = await connectClient(first.url, { name: 'wanderer' });
    await b.close();
    expect(await waitEvent(tail, (e) => e.event === 'disconnect' && e.sessionId === b.sessionId, 'the idle close')).toMatchObject({ reason: 'idle' });

    const c = await connectClient(first.url, { name: 'left-behind' });
    await waitEvent(tail, (e) => e.event === 'connect' && e.sessionId === c.sessionId, 'the third connect');
    // The journal line can come before the snapshot that lists the session (its write fsyncs):
    // killed in between, the session would have been seen leaving the snapshot, not with its writer.
    await waitSnap(dir, (s) => s.connections.some((x) => x.sessionId === c.sessionId), 'the third session in the snapshot');
    await first.proc.stop('SIGKILL');
    // A loaded machine may make the heartbeat late before the kill: wait for the death itself.
    const stale = await waitEvent(tail, (e) => e.event === 'stale' && e.why.join(' ').includes(`pid ${first.proc.pid} is not running`), 'the dead writer');
    expect(stale).toMatchObject({ pid: first.proc.pid, serverId: 'default' });
    expect(await waitEvent(tail, (e) => e.event === 'disconnect' && e.sessionId === c.sessionId, 'its session lost')).toMatchObject({ reason: 'writer-died' });

    const second = await startServer({ stateDir: dir });
    const restart = await waitEvent(tail, (e) => e.event === 'start' && e.pid === second.proc.pid, 'the restart');
    expect(restart).toMatchObject({ restart: true, previousPid: first.proc.pid, previousStoppedCleanly: false });
    await second.proc.stop('SIGTERM');
    await waitEvent(tail, (e) => e.event === 'stop' && e.pid === second.proc.pid, 'the clean stop');

    expect((await tail.stop('SIGINT')).code).toBe(0);
    // Each session once, each event a JSON object on its own line.
    const events = jsonLines(tail);
    expect(events.filter((e) => e.event === 'connect').map((e) => e.sessionId)).toEqual([a.sessionId, b.sessionId, c.sessionId]);
    expect(events.filter((e) => e.event === 'disconnect').map((e) => e.sessionId)).toEqual([a.sessionId, b.sessionId, c.sessionId]);
    expect(events.filter((e) => e.event === 'stale' && e.why.join(' ').includes('is not running'))).toHaveLength(1);
  });

  it('follows a child the API restarts after it was killed', async () => {
    const api = await startApi({ args: ['--heartbeat-ms', '1000'] });
    const pid = await api.childPid();
    const tail = new Proc(['tail', '--json', '--state-dir', api.stateDir]);
    const state = await waitEvent(tail, (e) => e.event === 'state', 'the current state');
    expect(state).toMatchObject({ serverId: 'default', verdict: 'running', pid, status: 'running', connections: [] });
    const c = await connectClient(await api.mcpUrl(), { name: 'via-api' });
    await waitEvent(tail, (e) => e.event === 'connect' && e.sessionId === c.sessionId, 'the connect');
    process.kill(pid, 'SIGKILL');
    const restart = await waitEvent(tail, (e) => e.event === 'start' && e.pid !== pid, 'the restarted child', 30_000);
    expect(restart).toMatchObject({ restart: true, previousPid: pid, previousStoppedCleanly: false });
    expect(jsonLines(tail).find((e) => e.event === 'disconnect' && e.sessionId === c.sessionId)).toMatchObject({ reason: 'writer-died' });
    await api.proc.stop('SIGTERM');
    await waitEvent(tail, (e) => e.event === 'stop' && e.pid === restart.pid, 'the stop with the API');
    expect((await tail.stop('SIGTERM')).code).toBe(0);
  });
});

describe('tail and a killed journal writer', () => {
  it('skips the torn line with a warning and goes on with the next writer', async () => {
    const stateDir = await makeStateDir();
    const file = path.join(stateDir, 'default', 'events.jsonl');
    await mkdir(path.dirname(file), { recursive: true });
    const tail = new Proc(['tail', '--json', '--state-dir', stateDir, '--server-id', 'default']);
    await waitFor(() => tail.stderr.some((l) => /waiting for .*snapshot\.json to appear/.test(l)), { what: 'tail to wait for the server' });
    const killed = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/torn-journal-writer.mjs', import.meta.url)), file, '2'], { stdio: 'ignore' });
    others.add(killed);
    await new Promise((r) => killed.once('exit', r));
    const fixtureStart = await waitEvent(tail, (e) => e.event === 'start', 'the fixture writer');
    await waitEvent(tail, (e) => e.event === 'connect' && e.sessionId === 'fixture-1', 'its sessions');
    const { proc, url } = await startServer({ stateDir });
    await waitEvent(tail, (e) => e.event === 'start' && e.pid === proc.pid, 'the real writer');
    await waitFor(() => tail.stderr.some((l) => /events\.jsonl: not a journal line \(not JSON/.test(l)), { what: 'the warning about the torn line' });
    const c = await connectClient(url, { name: 'after-tear' });
    await waitEvent(tail, (e) => e.event === 'connect' && e.sessionId === c.sessionId, 'a connect after the tear');
    const lost = jsonLines(tail).filter((e) => e.event === 'disconnect').map((e) => [e.sessionId, e.reason]);
    expect(lost).toEqual([['fixture-0', 'writer-died'], ['fixture-1', 'writer-died']]);
    expect(jsonLines(tail).find((e) => e.event === 'start' && e.pid === proc.pid)).toMatchObject({ restart: true, previousPid: fixtureStart.pid, previousStoppedCleanly: false });
    expect((await tail.stop('SIGINT')).code).toBe(0);
  });
});

describe('tail (human lines)', () => {
  it('starts with the current state and its sessions, then prints each change', async () => {
    const { stateDir, url, proc } = await startServer();
    const c = await connectClient(url, { name: 'already-here', version: '1.0', userAgent: 'here-agent' });
    await waitSnap(stateDir, (s) => s.activeConnections === 1, 'the session');
    const tail = new Proc(['tail', '--state-dir', stateDir, '--server-id', 'default']);
    await waitFor(() => tail.stdout.some((l) => l.includes(' open ')), { what: 'the open session' });
    expect(tail.stdout[0]).toMatch(new RegExp(`^\\S+Z default state\\s+running, pid ${proc.pid}, 1 active, 1 total, ${url}$`));
    expect(tail.stdout[1]).toMatch(new RegExp(`default\\s+open\\s+${c.sessionId} \\(legacy\\) from 127\\.0\\.0\\.1, already-here 1\\.0, user agent "here-agent", since \\S+Z$`));
    await c.terminate();
    await waitFor(() => tail.stdout.some((l) => / disconnect /.test(l)), { what: 'the disconnect line' });
    expect(tail.stdout.find((l) => / disconnect /.test(l))).toMatch(new RegExp(`default disconnect ${c.sessionId} \\(legacy, 127\\.0\\.0\\.1, already-here 1\\.0\\) reason delete after \\S+, \\d+ requests?$`));
    await proc.stop('SIGTERM');
    await waitFor(() => tail.stdout.some((l) => / stop /.test(l)), { what: 'the stop line' });
    expect(tail.stdout.join('\n')).not.toContain('\u001b[');
    expect((await tail.stop('SIGTERM')).code).toBe(0);
    expect(tail.stderr).toEqual([]);
  });

  it('exits 2 on bad usage', async () => {
    const r = new Proc(['tail', '--server-id', 'bad id']);
    expect((await r.exited).code).toBe(2);
    expect(r.stderr).toEqual(['mcp-monitor tail: Invalid --server-id: "bad id" (expected a server id ([A-Za-z0-9_-]{1,64}))']);
  });
});

describe('GNU tail -F on the snapshot', () => {
  it('prints each new snapshot whole, as the writer replaces the file', async () => {
    const { stateDir, url, proc } = await startServer();
    const gnu = spawn('/usr/bin/tail', ['-F', path.join(stateDir, 'default', 'snapshot.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
    others.add(gnu);
    let out = '';
    gnu.stdout!.setEncoding('utf8');
    gnu.stdout!.on('data', (d: string) => (out += d));
    const snaps = () => out.split('\n').slice(0, -1).map((l) => parseSnapshot(l));
    await waitFor(() => snaps().length > 0, { what: 'the first line' });
    const a = await connectClient(url, { name: 'gnu-1' });
    const b = await connectClient(url, { name: 'gnu-2' });
    await waitFor(() => snaps().some((s) => s.activeConnections === 2), { what: 'two sessions in tail -F' });
    await a.terminate();
    await b.terminate();
    await waitFor(() => snaps().some((s) => s.activeConnections === 0 && s.totalConnections === 2), { what: 'none left in tail -F' });
    await proc.stop('SIGTERM');
    await waitFor(() => snaps().at(-1)?.status === 'stopped', { what: 'the stopped snapshot in tail -F' });
    // Every line is a whole, valid snapshot (parseSnapshot threw otherwise) and seq never goes back.
    const seqs = snaps().map((s) => s.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    gnu.kill('SIGTERM');
  });
});
