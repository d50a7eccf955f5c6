/**
 * The event journal: what a real child appends, rotation by size, a torn line left by a killed
 * writer, a journal that cannot be written, and the replay of known histories.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { childArgs } from '../api/main.js';
import { JournalWriter } from '../server/publish/journal-writer.js';
import { WriterLock } from '../server/publish/writer-lock.js';
import { type DisconnectLine, type JournalLine } from '../shared/journal.js';
import { readJournal } from '../shared/io/read-journal.js';
import { connectionsAt } from '../shared/replay.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, makeStateDir, run } from './helpers/processes.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const locks: WriterLock[] = [];

afterEach(async () => {
  await Promise.all(locks.splice(0).map((l) => l.close()));
  await closeClients();
  await cleanup();
});

const silent = pino({ level: 'silent' });

/** The writer lock of `serverId`, taken: a JournalWriter writes only under it. */
async function heldLock(stateDir: string, serverId = 's'): Promise<WriterLock> {
  const lock = new WriterLock({ stateDir, serverId, logger: silent });
  locks.push(lock);
  await lock.start();
  return lock;
}

async function lines(dir: string, id = 'default'): Promise<{ lines: JournalLine[]; warnings: string[] }> {
  const warnings: string[] = [];
  const j = await readJournal(path.join(dir, id), (w) => warnings.push(w));
  return { lines: j.lines, warnings };
}

describe('the journal of a real MCP child', () => {
  it('records start, connect with the session fields, each disconnect reason, and stop', async () => {
    const { proc, stateDir, url } = await startServer({ args: ['--session-idle-ms', '300'] });
    const a = await connectClient(url, { name: 'alpha', version: '1.2.3', userAgent: 'alpha-agent/1' });
    await a.client.listTools();
    await a.terminate();
    const b = await connectClient(url, { name: 'beta' });
    await b.close(); // no DELETE: closed as idle
    await waitSnap(stateDir, (s) => (s.sessionsClosed?.idle ?? 0) === 1, 'the idle close');
    const c = await connectClient(url, { name: 'gamma' });
    await waitSnap(stateDir, (s) => s.activeConnections === 1, 'gamma connected');
    expect((await proc.stop('SIGTERM')).code).toBe(0);
    const final = await readSnap(stateDir);
    expect(final.status).toBe('stopped');

    const { lines: l, warnings } = await lines(stateDir);
    expect(warnings).toEqual([]);
    expect(l.map((x) => x.event)).toEqual(['start', 'connect', 'disconnect', 'connect', 'disconnect', 'connect', 'disconnect', 'stop']);
    for (const x of l) {
      expect(x.pid).toBe(proc.pid);
      expect(x.serverId).toBe('default');
      expect(Date.parse(x.ts)).toBeGreaterThan(0);
    }
    // seq: the snapshot each event belongs to, never going back; stop carries the final snapshot's.
    const seqs = l.map((x) => x.seq);
    expect([...seqs].sort((p, q) => p - q)).toEqual(seqs);
    expect(l[0]!.seq).toBeGreaterThanOrEqual(1);
    expect(l.at(-1)!.seq).toBe(final.seq);
    const connect = l[1] as Extract<JournalLine, { event: 'connect' }>;
    expect(connect).toMatchObject({ sessionId: a.sessionId, clientIP: '127.0.0.1', userAgent: 'alpha-agent/1', clientInfo: { name: 'alpha', version: '1.2.3' } });
    expect(connect.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const ends = l.filter((x): x is Extract<JournalLine, { event: 'disconnect' }> => x.event === 'disconnect');
    expect(ends.map((x) => [x.sessionId, x.reason])).toEqual([[a.sessionId, 'delete'], [b.sessionId, 'idle'], [c.sessionId, 'shutdown']]);
    expect(ends[0]!.requestCount).toBeGreaterThanOrEqual(2);
    for (const e of ends) expect(e.durationMs).toBeGreaterThanOrEqual(0);
    expect((await stat(path.join(stateDir, 'default', 'events.jsonl'))).mode & 0o777).toBe(0o600);
  });

  it('keeps serving MCP when the journal cannot be written', async () => {
    const stateDir = await makeStateDir();
    // A directory where the journal file should be: every open fails with EISDIR.
    await mkdir(path.join(stateDir, 'default', 'events.jsonl'), { recursive: true });
    const { proc, url } = await startServer({ stateDir });
    const c = await connectClient(url, { name: 'still-served' });
    const res = await c.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect((res.content as { text: string }[])[0]!.text).toBe('hi');
    await waitSnap(stateDir, (s) => s.activeConnections === 1, 'the session in the snapshot');
    await proc.waitForLog((x) => /journal/.test(String(x.msg)) && x.level === 50);
    expect((await proc.stop('SIGTERM')).code).toBe(0);
  });

  it('passes a killed writer’s torn last line over: the next writer starts on a new line', async () => {
    const stateDir = await makeStateDir();
    const file = path.join(stateDir, 'default', 'events.jsonl');
    await mkdir(path.dirname(file), { recursive: true });
    const fixture = fileURLToPath(new URL('./fixtures/torn-journal-writer.mjs', import.meta.url));
    const killed = spawn(process.execPath, [fixture, file, '3'], { stdio: 'ignore' });
    const [, signal] = await new Promise<[number | null, string | null]>((r) => killed.once('exit', (c, s) => r([c, s])));
    expect(signal).toBe('SIGKILL');
    expect((await readFile(file, 'utf8')).endsWith('\n')).toBe(false);

    const before = await lines(stateDir);
    expect(before.lines.map((x) => x.event)).toEqual(['start', 'connect', 'connect', 'connect']);
    expect(before.warnings).toHaveLength(1);
    expect(before.warnings[0]).toMatch(/events\.jsonl: the last line is incomplete/);

    const { proc, url } = await startServer({ stateDir });
    const c = await connectClient(url, { name: 'after-the-tear' });
    await c.terminate();
    await proc.stop('SIGTERM');
    const after = await lines(stateDir);
    expect(after.warnings).toHaveLength(1);
    expect(after.warnings[0]).toMatch(/events\.jsonl:5: not a journal line/);
    expect(after.lines.map((x) => x.event)).toEqual(['start', 'connect', 'connect', 'connect', 'start', 'connect', 'disconnect', 'stop']);
    expect(after.lines[4]!.pid).toBe(proc.pid);
    // The replay sees the fixture's sessions end when the next writer started.
    const mid = connectionsAt(after.lines, Date.UTC(2026, 0, 1, 0, 0, 10));
    expect(mid.connections.map((x) => x.sessionId)).toEqual(['fixture-0', 'fixture-1', 'fixture-2']);
    expect(connectionsAt(after.lines, Date.now()).connections).toEqual([]);
  });

  it('the next writer journals the end of the sessions a killed writer left open (reason shutdown)', async () => {
    const first = await startServer();
    const c = await connectClient(first.url, { name: 'left-behind' });
    const sid = c.transport.sessionId!;
    await waitSnap(first.stateDir, (s) => s.connections.some((x) => x.sessionId === sid), 'the session listed');
    await first.proc.stop('SIGKILL');
    const second = await startServer({ stateDir: first.stateDir });
    await second.proc.stop('SIGTERM');
    const { lines: after } = await lines(first.stateDir);
    const starts = after.flatMap((l, i) => (l.event === 'start' ? [i] : []));
    expect(starts).toHaveLength(2);
    const ends = after.filter((l): l is DisconnectLine => l.event === 'disconnect' && l.sessionId === sid);
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ reason: 'shutdown', pid: second.proc.pid, clientInfo: { name: 'left-behind' } });
    expect(ends[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(after.indexOf(ends[0]!)).toBeGreaterThan(starts[1]!);
    expect(connectionsAt(after, Date.now()).connections).toEqual([]);
  });

  it('counts and ends the sessions a killed writer journaled after its last snapshot', async () => {
    const first = await startServer();
    const c = await connectClient(first.url, { name: 'listed' });
    const listed = c.transport.sessionId!;
    await waitSnap(first.stateDir, (s) => s.connections.some((x) => x.sessionId === listed), 'the session listed');
    await first.proc.stop('SIGKILL');
    // What a writer killed right after its journal lines, before its next snapshot, leaves.
    const snap = await readSnap(first.stateDir);
    const file = path.join(first.stateDir, 'default', 'events.jsonl');
    const base = { pid: snap.pid, serverId: 'default', ts: new Date().toISOString() };
    const unseen = (sessionId: string, seq: number) => ({ event: 'connect', ...base, seq, sessionId, clientIP: '127.0.0.1', connectedAt: base.ts, era: 'legacy' });
    const extra = [unseen('unseen-b', snap.seq + 1), { event: 'disconnect', ...base, seq: snap.seq + 2, sessionId: listed, reason: 'delete', durationMs: 5, requestCount: 1, era: 'legacy' }, unseen('unseen-c', snap.seq + 3)];
    await writeFile(file, `${(await readFile(file, 'utf8')) + extra.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const second = await startServer({ stateDir: first.stateDir });
    const s = await readSnap(first.stateDir);
    expect(s.totalConnections).toBe(snap.totalConnections + 2);
    expect(s.sessionsClosed).toMatchObject({ delete: (snap.sessionsClosed?.delete ?? 0) + 1, shutdown: (snap.sessionsClosed?.shutdown ?? 0) + 2 });
    await second.proc.stop('SIGTERM');
    const { lines: after } = await lines(first.stateDir);
    const ends = after.filter((l): l is DisconnectLine => l.event === 'disconnect' && l.pid === second.proc.pid);
    expect(ends.map((l) => [l.sessionId, l.reason]).sort()).toEqual([['unseen-b', 'shutdown'], ['unseen-c', 'shutdown']]);
    expect(after.filter((l) => l.event === 'connect').length).toBe(s.totalConnections);
  });

  it('passes the journal settings from start to the child and refuses bad values', async () => {
    const args = childArgs({ mcpPort: 0, mcpHost: '127.0.0.1', stateDir: '/s', serverId: 'x', heartbeatMs: 500, maxSessions: 1, sessionIdleMs: 0, entry: undefined, upstream: undefined, command: undefined, trustProxy: false, allowedHosts: [], clientWindowMs: 60000, calls: 'on', callsMaxBytes: 10485760, callsFiles: 5, journalMaxBytes: 4096, journalFiles: 7 });
    expect(args.join(' ')).toMatch(/ --journal-max-bytes 4096 --journal-files 7$/);
    const bad = await run(['server', '--journal-files', '0', '--state-dir', await makeStateDir()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Invalid --journal-files: "0"/);
    const env = await run(['server', '--state-dir', await makeStateDir()], { env: { MCP_MONITOR_JOURNAL_MAX_BYTES: '12' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/Invalid MCP_MONITOR_JOURNAL_MAX_BYTES: "12"/);
  });

  it('rotates a real child’s journal by size', async () => {
    const { proc, stateDir, url } = await startServer({ args: ['--journal-max-bytes', '2048', '--journal-files', '2'] });
    for (let i = 0; i < 12; i += 1) await (await connectClient(url, { name: `client-${i}` })).terminate();
    await proc.stop('SIGTERM');
    const names = (await readdir(path.join(stateDir, 'default'))).filter((n) => n.startsWith('events')).sort();
    expect(names).toEqual(['events.1.jsonl', 'events.2.jsonl', 'events.jsonl']);
    const { lines: l, warnings } = await lines(stateDir);
    expect(warnings).toEqual([]);
    expect(l.at(-1)!.event).toBe('stop');
  });
});

describe('JournalWriter', () => {
  it('rotates before a line would pass maxBytes, keeps `files` rotated files, never splits a line', async () => {
    const stateDir = await makeStateDir();
    const w = new JournalWriter({ stateDir, serverId: 's', lock: await heldLock(stateDir), maxBytes: 1024, files: 3, logger: silent });
    await w.start();
    const N = 200;
    for (let i = 0; i < N; i += 1) w.append({ event: 'stop', ts: new Date().toISOString(), pid: 1, seq: i, serverId: 's' });
    await w.close();
    await w.close();
    const dir = path.join(stateDir, 's');
    const journals = (await readdir(dir)).filter((n) => n.startsWith('events')).sort();
    expect(journals).toEqual(['events.1.jsonl', 'events.2.jsonl', 'events.3.jsonl', 'events.jsonl']);
    for (const name of journals) {
      const text = await readFile(path.join(dir, name), 'utf8');
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1024);
      expect(text.endsWith('\n')).toBe(true);
      expect((await stat(path.join(dir, name))).mode & 0o777).toBe(0o600);
    }
    const warnings: string[] = [];
    const { lines: l } = await readJournal(dir, (x) => warnings.push(x));
    expect(warnings).toEqual([]);
    // The newest lines, in order, with none missing in between.
    const seqs = l.map((x) => x.seq);
    expect(seqs.at(-1)).toBe(N - 1);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => N - seqs.length + i));
    expect(seqs.length).toBeGreaterThan(20);
  });

  it('ends a torn last line before its first line and reports failures as errors, not throws', async () => {
    const stateDir = await makeStateDir();
    const dir = path.join(stateDir, 's');
    await mkdir(dir);
    await writeFile(path.join(dir, 'events.jsonl'), '{"event":"start","ts":"2026-01-01T00:00:00Z","pid":9,"seq":1}\n{"event":"conn', { mode: 0o644 });
    const w = new JournalWriter({ stateDir, serverId: 's', lock: await heldLock(stateDir), logger: silent });
    await w.start();
    w.append({ event: 'stop', ts: '2026-01-01T00:00:01.000Z', pid: 9, seq: 2 });
    await w.close();
    const text = await readFile(path.join(dir, 'events.jsonl'), 'utf8');
    expect(text).toBe('{"event":"start","ts":"2026-01-01T00:00:00Z","pid":9,"seq":1}\n{"event":"conn\n{"event":"stop","ts":"2026-01-01T00:00:01.000Z","pid":9,"seq":2}\n');
    expect((await stat(path.join(dir, 'events.jsonl'))).mode & 0o777).toBe(0o600);

    // A journal that cannot be opened: start rejects, append neither throws nor blocks.
    const broken = await makeStateDir();
    await mkdir(path.join(broken, 's', 'events.jsonl'), { recursive: true });
    const b = new JournalWriter({ stateDir: broken, serverId: 's', lock: await heldLock(broken), logger: silent });
    const errors: Error[] = [];
    b.on('error', (e) => errors.push(e));
    await expect(b.start()).rejects.toThrow(/EISDIR/);
    b.append({ event: 'stop', ts: '2026-01-01T00:00:01.000Z', pid: 9, seq: 2 });
    await waitFor(() => errors.length > 0, { what: 'an error event' });
    await b.close();
    expect(errors[0]!.message).toMatch(/Could not append to .*events\.jsonl/);
  });
});

describe('JournalWriter under a lost lock', () => {
  it('writes nothing once the lock is gone: the queue is dropped and the file closed', async () => {
    const stateDir = await makeStateDir();
    const lock = await heldLock(stateDir);
    const w = new JournalWriter({ stateDir, serverId: 's', lock, logger: silent });
    const compromised: Error[] = [];
    lock.on('compromised', (e) => compromised.push(e));
    await w.start();
    w.append({ event: 'start', ts: '2026-01-01T00:00:00.000Z', pid: 9, seq: 1 });
    await w.flush();
    const file = path.join(stateDir, 's', 'events.jsonl');
    const before = await readFile(file, 'utf8');
    expect(before.split('\n').filter(Boolean)).toHaveLength(1);
    // Another writer's turn: the lock directory is removed (as by hand, or a stale takeover).
    await rm(lock.path, { recursive: true });
    for (let i = 0; i < 5; i += 1) w.append({ event: 'stop', ts: '2026-01-01T00:00:01.000Z', pid: 9, seq: 2 + i });
    await w.close();
    expect(compromised).toHaveLength(1);
    expect(lock.held).toBe(false);
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});

describe('replay (inspect --at)', () => {
  const t = (s: number) => new Date(Date.UTC(2026, 10, 24, 10, 0, s)).toISOString();
  const at = (s: number) => Date.UTC(2026, 10, 24, 10, 0, s);
  const conn = (s: number, pid: number, id: string) => ({ event: 'connect' as const, ts: t(s), pid, seq: s, sessionId: id, clientIP: '10.0.0.1', userAgent: 'ua', clientInfo: { name: id, version: '1' }, connectedAt: t(s) });
  const end = (s: number, pid: number, id: string, reason: 'delete' | 'idle' | 'close' | 'shutdown') => ({ event: 'disconnect' as const, ts: t(s), pid, seq: s, sessionId: id, reason, durationMs: 1, requestCount: 1 });
  // Writer 100 starts, A and B connect, A leaves, C connects, 100 is killed; 200 starts, D connects, stops cleanly.
  const history: JournalLine[] = [
    { event: 'start', ts: t(0), pid: 100, seq: 1 },
    conn(1, 100, 'A'),
    conn(2, 100, 'B'),
    end(3, 100, 'A', 'delete'),
    conn(4, 100, 'C'),
    { event: 'start', ts: t(10), pid: 200, seq: 1 },
    conn(11, 200, 'D'),
    end(12, 200, 'D', 'shutdown'),
    { event: 'stop', ts: t(12), pid: 200, seq: 5 },
  ];

  it.each([
    [0, []],
    [1, ['A']],
    [2, ['A', 'B']],
    [3, ['B']],
    [5, ['B', 'C']],
    [10, []],
    [11, ['D']],
    [20, []],
  ])('at second %i: %j', (s, ids) => {
    const r = connectionsAt(history, at(s));
    expect(r.connections.map((c) => c.sessionId)).toEqual(ids);
    expect(r.incomplete).toBe(false);
  });

  it('says who the writer was and that a time before the journal is not known', () => {
    expect(connectionsAt(history, at(5))).toMatchObject({ pid: 100, writerUp: true });
    expect(connectionsAt(history, at(13))).toMatchObject({ pid: 200, writerUp: false });
    const before = connectionsAt(history, at(-5));
    expect(before).toMatchObject({ connections: [], writerUp: null, incomplete: true, journalStartsAt: t(0) });
    // A journal whose start was rotated away is incomplete too, but still knows what it saw.
    const cut = connectionsAt(history.slice(2), at(5));
    expect(cut.incomplete).toBe(true);
    expect(cut.connections.map((c) => c.sessionId)).toEqual(['B', 'C']);
    expect(cut.connections[0]).toMatchObject({ clientIP: '10.0.0.1', userAgent: 'ua', clientInfo: { name: 'B', version: '1' } });
  });
});
