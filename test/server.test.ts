/**
 * The MCP child on its own (`mcp-monitor server`): sessions in the snapshot, their end, the
 * writer's guarantees and its single-writer lock. Real processes, files and SDK clients.
 */
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readJournal } from '../shared/io/read-journal.js';
import { parseSnapshot, type Snapshot } from '../shared/snapshot.js';
import { connectClient, closeClients } from './helpers/mcp-client.js';
import { INITIALIZE, postWithHost, rawCall, rawSession } from './helpers/raw-mcp.js';
import { Proc, cleanup, isAlive, makeStateDir } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

async function readSnap(dir: string, id = 'default'): Promise<Snapshot> {
  return parseSnapshot(await readFile(path.join(dir, id, 'snapshot.json'), 'utf8'));
}

async function startServer(args: string[] = [], env?: NodeJS.ProcessEnv, timeout = 10_000) {
  const stateDir = args.includes('--state-dir') ? args[args.indexOf('--state-dir') + 1]! : await makeStateDir();
  const extra = args.includes('--state-dir') ? [] : ['--state-dir', stateDir];
  const proc = new Proc(['server', '--mcp-port', '0', '--heartbeat-ms', '300', ...extra, ...args], { env });
  const snap = await waitFor(async () => {
    const s = await readSnap(stateDir).catch(() => undefined);
    return s?.status === 'running' && s.pid === proc.pid ? s : undefined;
  }, { timeout, what: `the server running (${proc.stderr.slice(-3).join(' | ')})` });
  return { proc, stateDir, url: snap.mcp!.url, snap };
}

function waitSnap(dir: string, pred: (s: Snapshot) => boolean, what = 'a snapshot', timeout = 10_000): Promise<Snapshot> {
  return waitFor(async () => {
    const s = await readSnap(dir).catch(() => undefined);
    return s && pred(s) ? s : undefined;
  }, { what, timeout });
}

describe('sessions in the snapshot', () => {
  it('records a session with every field, counts its requests and removes it on DELETE', async () => {
    const { stateDir, url } = await startServer();
    const c = await connectClient(url, { name: 'field-client', version: '2.3.4', userAgent: 'field-agent/7' });
    const s = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the session');
    const conn = s.connections[0]!;
    expect(conn.sessionId).toBe(c.sessionId);
    expect(conn.clientIP).toBe('127.0.0.1');
    expect(conn.userAgent).toBe('field-agent/7');
    expect(conn.clientInfo).toMatchObject({ name: 'field-client', version: '2.3.4' });
    expect(conn.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Date.parse(conn.connectedAt)).toBeGreaterThan(0);
    expect(s.totalConnections).toBe(1);
    expect(s.reason).toMatch(/connect|activity|heartbeat/);

    const before = conn.requestCount;
    await c.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    await c.client.listTools();
    const moved = await waitSnap(stateDir, (x) => (x.connections[0]?.requestCount ?? 0) >= before + 2, 'requestCount to move');
    expect(Date.parse(moved.connections[0]!.lastActivity)).toBeGreaterThanOrEqual(Date.parse(conn.lastActivity));

    await c.terminate();
    const gone = await waitSnap(stateDir, (x) => x.activeConnections === 0, 'the session to end');
    expect(gone.totalConnections).toBe(1);
    expect(gone.connections).toEqual([]);
  });

  it('closes a session that stays idle, never one with a request in flight', async () => {
    const { stateDir, url } = await startServer(['--session-idle-ms', '400']);
    const idle = await rawSession(url, 'idle');
    const busy = await rawSession(url, 'busy');
    await waitSnap(stateDir, (x) => x.activeConnections === 2, 'two sessions');
    // busy holds one request open for 1.5 s, well past the idle limit.
    const call = rawCall(url, busy, 'tools/call', { name: 'echo', arguments: { text: 'slow', delayMs: 1500 } });
    const afterIdle = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the idle session to close');
    expect(afterIdle.connections[0]!.sessionId).toBe(busy);
    const res = await call;
    expect(res.status).toBe(200);
    expect(res.body.result.content[0].text).toBe('slow');
    await waitSnap(stateDir, (x) => x.activeConnections === 0, 'the busy session to close once idle');
    // A request on the ended session gets 404, so a client starts over.
    expect((await rawCall(url, idle, 'tools/list')).status).toBe(404);
  });

  it('ends the session of an SDK client that went away without DELETE, reason close', async () => {
    const { stateDir, url } = await startServer(['--session-idle-ms', '600000']);
    const c = await connectClient(url, { name: 'leaver' });
    const stays = await connectClient(url, { name: 'stayer' });
    await waitSnap(stateDir, (x) => x.activeConnections === 2, 'two sessions');
    // The SDK client's close() sends no DELETE: only its GET stream goes away.
    await c.close();
    const s = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the gone session to end', 15_000);
    expect(s.connections[0]!.sessionId).toBe(stays.sessionId);
    expect(s.sessionsClosed).toMatchObject({ close: 1, idle: 0, delete: 0 });
  });

  it('keeps a session whose GET stream broke and came back', async () => {
    // A short grace (internal env var): a session whose stream is gone for longer ends.
    const { stateDir, url } = await startServer(['--session-idle-ms', '600000'], { MCP_MONITOR_GONE_GRACE_MS: '1000' });
    const sid = await rawSession(url, 'reconnector');
    const probe = await rawSession(url, 'probe');
    const stream = (id: string, signal: AbortSignal) =>
      fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' }, signal });
    const first = new AbortController();
    expect((await stream(sid, first.signal)).status).toBe(200);
    const probeStream = new AbortController();
    expect((await stream(probe, probeStream.signal)).status).toBe(200);
    // The stream breaks and comes back at once, as the SDK client's does.
    first.abort();
    const second = new AbortController();
    expect((await stream(sid, second.signal)).status).toBe(200);
    // The probe's stream goes for good after that: once its grace has run out, so has the grace
    // armed by the first break (earlier), and only the probe may have ended.
    probeStream.abort();
    const s = await waitSnap(stateDir, (x) => x.sessionsClosed?.close === 1, 'the probe to end');
    expect(s.connections.map((c) => c.sessionId)).toEqual([sid]);
    second.abort();
    await waitSnap(stateDir, (x) => x.activeConnections === 0 && x.sessionsClosed?.close === 2, 'the session to end once the stream is gone for good');
  });

  it('answers 404 to an unknown session and 400 to a request without one', async () => {
    const { url } = await startServer();
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const unknown = await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-session-id': 'nope' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: number } }).error.code).toBe(-32001);
    const none = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    expect(none.status).toBe(400);
    const del = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': 'nope' } });
    expect(del.status).toBe(404);
  });

  it('refuses initialize past --max-sessions with 503 and Retry-After', async () => {
    const { url, stateDir } = await startServer(['--max-sessions', '2']);
    await connectClient(url);
    await connectClient(url);
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(INITIALIZE()),
    });
    expect(r.status).toBe(503);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    const s = await waitSnap(stateDir, (x) => x.activeConnections === 2, 'two sessions');
    expect(s.totalConnections).toBe(2);
  });

  it('rejects a foreign Host header (DNS-rebinding protection)', async () => {
    const { url, stateDir } = await startServer();
    expect(await postWithHost(url, 'evil.example', INITIALIZE())).toBe(403);
    expect(await postWithHost(url, new URL(url).host, INITIALIZE())).toBe(200);
    await waitSnap(stateDir, (x) => x.totalConnections === 1, 'the allowed session');
  });

  it('takes the client IP from X-Forwarded-For only with --trust-proxy', async () => {
    const plain = await startServer();
    const a = await connectClient(plain.url, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    const s1 = await waitSnap(plain.stateDir, (x) => x.activeConnections === 1, 'the session');
    expect(s1.connections[0]!.clientIP).toBe('127.0.0.1');
    await a.terminate();

    const trusting = await startServer(['--trust-proxy', '1']);
    await connectClient(trusting.url, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    const s2 = await waitSnap(trusting.stateDir, (x) => x.activeConnections === 1, 'the session');
    expect(s2.connections[0]!.clientIP).toBe('203.0.113.9');
  });

  it('hosts the user\'s own server from --entry and monitors it', async () => {
    const entry = path.join(import.meta.dirname, 'fixtures', 'entry-server.mjs');
    const { url, stateDir } = await startServer(['--entry', entry]);
    const c = await connectClient(url, { name: 'entry-client' });
    const tools = await c.client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(['add']);
    const r = (await c.client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })) as { content: { text: string }[] };
    expect(r.content[0]!.text).toBe('42');
    const s = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the session');
    expect(s.connections[0]!.clientInfo?.name).toBe('entry-client');
  });

  it('serves built-in tools, one of which reports its own connection stats', async () => {
    const { url } = await startServer();
    const c = await connectClient(url, { name: 'stats-client' });
    const names = (await c.client.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual(['connection_stats', 'echo', 'server_info']);
    const r = (await c.client.callTool({ name: 'connection_stats', arguments: {} })) as { structuredContent: any };
    expect(r.structuredContent.activeConnections).toBe(1);
    expect(r.structuredContent.otherConnections).toBe(0);
    expect(r.structuredContent.you).toMatchObject({ sessionId: c.sessionId, clientIP: '127.0.0.1', clientInfo: { name: 'stats-client', version: '1.0.0' } });
  });
});

describe('the snapshot file', () => {
  it('is always one whole valid line, seq only grows, while a reader hammers it', async () => {
    const { stateDir, url } = await startServer(['--heartbeat-ms', '50']);
    const file = path.join(stateDir, 'default', 'snapshot.json');
    let reads = 0;
    let lastSeq = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const text = await readFile(file, 'utf8');
        expect(text.endsWith('\n')).toBe(true);
        expect(text.indexOf('\n')).toBe(text.length - 1);
        const s = parseSnapshot(text);
        expect(s.seq).toBeGreaterThanOrEqual(lastSeq);
        lastSeq = s.seq;
        reads += 1;
      }
    })();
    const clients = [];
    for (let i = 0; i < 20; i++) clients.push(await connectClient(url, { name: `c${i}` }));
    await Promise.all(clients.map((c) => c.client.callTool({ name: 'echo', arguments: { text: 'x' } })));
    await Promise.all(clients.map((c) => c.terminate()));
    await waitSnap(stateDir, (x) => x.activeConnections === 0 && x.totalConnections === 20, 'all sessions to end');
    stop = true;
    await reader;
    expect(reads).toBeGreaterThan(50);
  });

  it('batches writes caused only by activity (a busy session does not cause back-to-back writes)', async () => {
    // Activity waits for a batch timer that does not fire during the test (internal env var);
    // no heartbeat either: every write must come from a change of the map.
    const { stateDir, url } = await startServer(['--heartbeat-ms', '600000'], { MCP_MONITOR_ACTIVITY_DELAY_MS: '600000' });
    const sid = await rawSession(url, 'busy');
    const before = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the session');
    for (let i = 0; i < 150; i++) expect((await rawCall(url, sid, 'tools/call', { name: 'echo', arguments: { text: String(i) } })).status).toBe(200);
    // 150 requests caused no write of their own...
    expect((await readSnap(stateDir)).seq).toBe(before.seq);
    // ...and the next change of the map carries all of them in one write.
    await rawSession(url, 'second');
    const after = await waitSnap(stateDir, (x) => x.activeConnections === 2, 'the second session');
    expect(after.seq).toBe(before.seq + 1);
    expect(after.connections.find((c) => c.sessionId === sid)!.requestCount).toBeGreaterThanOrEqual(before.connections[0]!.requestCount + 150);
  });

  it('is written 0600 in a 0700 directory, and temp files of a killed writer are removed', async () => {
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'default'), { recursive: true });
    await writeFile(path.join(stateDir, 'default', 'snapshot.json.123456'), '{"half":');
    const { snap } = await startServer(['--state-dir', stateDir]);
    expect(snap.status).toBe('running');
    const names = await readdir(path.join(stateDir, 'default'));
    expect(names.filter((n) => /^snapshot\.json\.\d+$/.test(n))).toEqual([]);
    expect((await stat(path.join(stateDir, 'default'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(stateDir, 'default', 'snapshot.json'))).mode & 0o777).toBe(0o600);
  });

  it('refreshes writtenAt on the heartbeat', async () => {
    const { stateDir, snap } = await startServer(['--heartbeat-ms', '200']);
    const later = await waitSnap(stateDir, (x) => x.seq >= snap.seq + 3, 'three heartbeats');
    expect(later.reason).toBe('heartbeat');
    expect(Date.parse(later.writtenAt)).toBeGreaterThan(Date.parse(snap.writtenAt));
  });

  it('ends a clean shutdown with a stopped snapshot of 0 connections, and carries totalConnections over', async () => {
    const first = await startServer();
    const a = await connectClient(first.url);
    await connectClient(first.url);
    await waitSnap(first.stateDir, (x) => x.activeConnections === 2, 'two sessions');
    void a;
    const { code } = await first.proc.stop('SIGTERM');
    expect(code).toBe(0);
    const final = await readSnap(first.stateDir);
    expect(final).toMatchObject({ status: 'stopped', reason: 'shutdown', activeConnections: 0, connections: [], totalConnections: 2 });
    await expect(stat(path.join(first.stateDir, 'default', 'snapshot.json.lock'))).rejects.toThrow();

    const second = await startServer(['--state-dir', first.stateDir]);
    expect(second.snap.totalConnections).toBe(2);
    await connectClient(second.url);
    const s = await waitSnap(first.stateDir, (x) => x.activeConnections === 1, 'the new session');
    expect(s.totalConnections).toBe(3);
  });

  it('keeps serving MCP while snapshot writes fail, and recovers', async () => {
    const { stateDir, url, proc } = await startServer();
    const file = path.join(stateDir, 'default', 'snapshot.json');
    // A directory where the snapshot should be: every rename onto it fails (EISDIR).
    await rm(file);
    await mkdir(file);
    const c = await connectClient(url, { name: 'during-fault' });
    const r = (await c.client.callTool({ name: 'echo', arguments: { text: 'still here' } })) as { content: { text: string }[] };
    expect(r.content[0]!.text).toBe('still here');
    await proc.waitForLog((l) => l.msg === 'snapshot write failed; retrying');
    await rm(file, { recursive: true });
    const s = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'writes to recover');
    expect(s.connections[0]!.clientInfo?.name).toBe('during-fault');
    expect(proc.alive).toBe(true);
  });
});

describe('when the snapshot cannot be written at all', () => {
  it('still starts and serves MCP, and a SIGTERM still exits promptly', async () => {
    const stateDir = await makeStateDir();
    // A directory where the snapshot should be: every write fails (EISDIR) from the first.
    await mkdir(path.join(stateDir, 'default', 'snapshot.json'), { recursive: true });
    const proc = new Proc(['server', '--mcp-port', '0', '--state-dir', stateDir]);
    const listening = await proc.waitForLog((l) => l.msg === 'MCP server listening');
    const c = await connectClient(String(listening.url), { name: 'no-monitoring' });
    const r = (await c.client.callTool({ name: 'echo', arguments: { text: 'served' } })) as { content: { text: string }[] };
    expect(r.content[0]!.text).toBe('served');
    expect(proc.logs().some((l) => l.msg === 'snapshot write failed; retrying')).toBe(true);
    await c.close();
    const { code } = await proc.stop('SIGTERM');
    expect(code).toBe(0);
  });
});

describe('one writer per server id', () => {
  it('refuses a second writer with one clear line and a non-zero code', async () => {
    const { stateDir } = await startServer();
    const second = new Proc(['server', '--mcp-port', '0', '--state-dir', stateDir]);
    const { code } = await second.exited;
    expect(code).not.toBe(0);
    const lines = second.stderr.filter((l) => l.startsWith('mcp-monitor server:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/already being written by pid \d+/);
  });

  it('takes over the stale lock of a SIGKILLed writer', async () => {
    const first = await startServer();
    await first.proc.stop('SIGKILL');
    await stat(path.join(first.stateDir, 'default', 'snapshot.json.lock'));
    // proper-lockfile gives a lock up once it is `stale` (5 s) old: allow for that.
    const second = await startServer(['--state-dir', first.stateDir], undefined, 20_000);
    expect(second.snap.pid).not.toBe(first.proc.pid);
    expect(isAlive(first.proc.pid)).toBe(false);
  });

  it('stops writing on purpose when its lock is taken away: no snapshot or journal line of it after the loss', async () => {
    // A runs with a client; its lock is removed; B starts and serves a client; then A notices.
    const a = await startServer();
    const dir = path.join(a.stateDir, 'default');
    await connectClient(a.url, { name: 'client-of-a' });
    await waitSnap(a.stateDir, (x) => x.pid === a.proc.pid && x.activeConnections === 1, 'A serving its client');
    // Every snapshot seen from now on, in order.
    const seen: { pid: number; seq: number }[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const s = await readSnap(a.stateDir).catch(() => undefined);
        if (s && (seen.at(-1)?.pid !== s.pid || seen.at(-1)?.seq !== s.seq)) seen.push({ pid: s.pid, seq: s.seq });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await rm(path.join(dir, 'snapshot.json.lock'), { recursive: true });
    const b = new Proc(['server', '--mcp-port', '0', '--heartbeat-ms', '300', '--state-dir', a.stateDir]);
    const bSnap = await waitSnap(a.stateDir, (x) => x.pid === b.pid && x.status === 'running', 'B running', 20_000);
    const cb = await connectClient(bSnap.mcp!.url, { name: 'client-of-b' });
    await cb.client.listTools();
    const { code } = await a.proc.exited;
    expect(code).toBe(1);
    expect(a.proc.logs().some((l) => /lock lost/.test(String(l.msg)))).toBe(true);
    const s = await waitSnap(a.stateDir, (x) => x.pid === b.pid && x.activeConnections === 1, 'B serving its client');
    watching = false;
    await watcher;
    // No snapshot of A once B's first one was seen; the file is B's.
    const firstOfB = seen.findIndex((x) => x.pid === b.pid);
    expect(firstOfB).toBeGreaterThanOrEqual(0);
    expect(seen.slice(firstOfB).filter((x) => x.pid === a.proc.pid)).toEqual([]);
    expect(s.connections[0]!.clientInfo?.name).toBe('client-of-b');
    // A's journal lines are those written before the loss: its start and its client's connect.
    // No `disconnect … shutdown` and no `stop` of A land in B's journal.
    const { lines } = await readJournal(dir, () => undefined);
    expect(lines.filter((l) => l.pid === a.proc.pid).map((l) => l.event)).toEqual(['start', 'connect']);
    // B found A's snapshot not stopped: A's session ends in B's journal (reason shutdown), once.
    expect(lines.filter((l) => l.pid === b.pid).map((l) => l.event)).toEqual(['start', 'disconnect', 'connect']);
    const aSession = lines.find((l) => l.pid === a.proc.pid && l.event === 'connect') as { sessionId: string };
    expect(lines.find((l) => l.pid === b.pid && l.event === 'disconnect')).toMatchObject({ sessionId: aSession.sessionId, reason: 'shutdown' });
    // A exited without removing B's lock (proper-lockfile's exit handler leaves it alone).
    expect((await stat(path.join(dir, 'snapshot.json.lock'))).isDirectory()).toBe(true);
  });
});
