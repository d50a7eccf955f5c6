/**
 * The API (`mcp-monitor start`) with its real child: REST routes, SSE, supervision and the
 * faults it must survive. Real processes, files, HTTP and SDK clients.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, closeClients } from './helpers/mcp-client.js';
import { rawSession } from './helpers/raw-mcp.js';
import { cleanup, isAlive, startApi } from './helpers/processes.js';
import { connectionOf, operationOf, writeSnapshot } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

/** Reads SSE frames from a fetch response into `events` until aborted. */
function readSse(res: Response, events: { event?: string; id?: string; data?: string }[]): Promise<void> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  return (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: { event?: string; id?: string; data?: string } = {};
        for (const line of frame.split('\n')) {
          const m = /^(event|id|data): (.*)$/.exec(line);
          if (m) e[m[1] as 'event' | 'id' | 'data'] = m[2];
        }
        if (e.event) events.push(e);
      }
    }
  })();
}

describe('REST', () => {
  it('shows a connection with every field, by server and by session, and forgets it after DELETE', async () => {
    const api = await startApi();
    const c = await connectClient(await api.mcpUrl(), { name: 'rest-client', version: '3.1.4', userAgent: 'rest-agent/1' });
    const conns = await waitFor(async () => {
      const r = await api.json('/api/mcp/connections');
      return r.body.activeConnections === 1 ? r.body : undefined;
    }, { what: 'the connection in the API' });
    expect(conns).toMatchObject({ serverId: 'default', activeConnections: 1, totalConnections: 1, stale: false });
    expect(typeof conns.seq).toBe('number');
    expect(conns.connections[0]).toMatchObject({
      sessionId: c.sessionId,
      clientIP: '127.0.0.1',
      userAgent: 'rest-agent/1',
      clientInfo: { name: 'rest-client', version: '3.1.4' },
    });

    const one = await api.json(`/api/mcp/connections/${c.sessionId}`);
    expect(one.status).toBe(200);
    expect(one.body.sessionId).toBe(c.sessionId);
    const count = await api.json('/api/mcp/connections/count');
    expect(count.body.activeConnections).toBe(1);
    expect(Date.parse(count.body.timestamp)).toBeGreaterThan(0);
    const perServer = await api.json(`/api/mcp/servers/default/connections/${c.sessionId}`);
    expect(perServer.body.clientInfo.name).toBe('rest-client');

    await c.terminate();
    await waitFor(async () => (await api.json('/api/mcp/connections')).body.activeConnections === 0, { what: 'the session to go' });
    const gone = await api.json(`/api/mcp/connections/${c.sessionId}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('unknown_session');
  });

  it('passes era, lastMethod and operations through, and counts active connections by era', async () => {
    const api = await startApi();
    const modern = connectionOf('m-00000000000000aa', { era: 'modern', protocolVersion: '2026-07-28', lastMethod: 'tools/call', clientInfo: { name: 'v2-auto', version: '2.0.0' } });
    const legacy = connectionOf('5b1d1f0e-0000-4000-8000-000000000001', { era: 'legacy', lastMethod: 'initialize' });
    const old = connectionOf('0c2e5a77-0000-4000-8000-000000000002');
    const operations = [operationOf('tools/call', 'echo', [0.01]), operationOf('tools/call', 'echo', [0.2], 'tool_error')];
    await writeSnapshot(api.stateDir, 'ext', { connections: [modern, legacy, old], operations });
    const conns = await waitFor(async () => {
      const r = await api.json('/api/mcp/servers/ext/connections');
      return r.status === 200 ? r.body : undefined;
    }, { what: 'the external server' });
    expect(conns.connections.map((c: { sessionId: string; era?: string; lastMethod?: string }) => [c.sessionId, c.era, c.lastMethod])).toEqual([
      [modern.sessionId, 'modern', 'tools/call'],
      [legacy.sessionId, 'legacy', 'initialize'],
      [old.sessionId, undefined, undefined],
    ]);
    expect(conns.operations).toEqual(operations);
    expect((await api.json(`/api/mcp/servers/ext/connections/${modern.sessionId}`)).body).toMatchObject({ era: 'modern', protocolVersion: '2026-07-28', lastMethod: 'tools/call' });
    const servers = (await api.json('/api/mcp/servers')).body.servers;
    expect(servers.find((s: { serverId: string }) => s.serverId === 'ext')).toMatchObject({ status: 'external', activeConnections: 3, activeByEra: { legacy: 2, modern: 1 } });
    expect(servers.find((s: { serverId: string }) => s.serverId === 'default')).toMatchObject({ activeByEra: { legacy: 0, modern: 0 } });
  });

  it('lists servers, reports health and readiness, and answers JSON errors', async () => {
    const api = await startApi();
    const servers = await api.json('/api/mcp/servers');
    expect(servers.body.servers).toHaveLength(1);
    expect(servers.body.servers[0]).toMatchObject({ serverId: 'default', status: 'running', restarts: 0, activeConnections: 0, stale: false });
    expect(servers.body.servers[0].mcpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(servers.body.servers[0].heartbeatAgeMs).toBeGreaterThanOrEqual(0);

    const health = await api.json('/api/mcp/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ healthy: true, status: 'pass', serverRunning: true, monitorRunning: true, connections: { active: 0, total: 0 } });
    expect((await api.fetch('/livez')).status).toBe(200);
    expect((await api.fetch('/readyz')).status).toBe(200);

    const unknown = await api.json('/api/mcp/servers/nope/connections');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('unknown_server');
    const bad = await api.json('/api/mcp/servers/bad%20id/connections');
    expect(bad.status).toBe(400);
    // The server itself answers as its connections do: 400 malformed, 404 unknown.
    const badServer = await api.json('/api/mcp/servers/bad%20id');
    expect(badServer.status).toBe(400);
    expect(badServer.body.error.code).toBe('bad_server_id');
    const unknownServer = await api.json('/api/mcp/servers/nope');
    expect(unknownServer.status).toBe(404);
    expect(unknownServer.body.error.code).toBe('unknown_server');
    expect((await api.json('/api/mcp/servers/default')).body).toMatchObject({ serverId: 'default', status: 'running' });
    const noRoute = await api.json('/api/nothing');
    expect(noRoute.status).toBe(404);
    expect(noRoute.body.error).toBeDefined();
  });

  it('sees the final count after a burst of connects and disconnects', async () => {
    const api = await startApi();
    const url = await api.mcpUrl();
    const clients = await Promise.all(Array.from({ length: 25 }, (_, i) => connectClient(url, { name: `burst-${i}` })));
    await waitFor(async () => (await api.json('/api/mcp/connections/count')).body.activeConnections === 25, { what: '25 sessions' });
    await Promise.all(clients.slice(0, 10).map((c) => c.terminate()));
    const final = await waitFor(async () => {
      const b = (await api.json('/api/mcp/connections')).body;
      return b.activeConnections === 15 ? b : undefined;
    }, { what: '15 sessions after the burst' });
    expect(final.totalConnections).toBe(25);
    const left = new Set(final.connections.map((c: { sessionId: string }) => c.sessionId));
    expect(clients.slice(10).every((c) => left.has(c.sessionId))).toBe(true);
  });

  it('needs the token on every route but the probes when --token is set', async () => {
    const api = await startApi({ args: ['--token', 's3cret'] });
    const auth = { headers: { Authorization: 'Bearer s3cret' } };
    expect((await api.fetch('/api/mcp/connections')).status).toBe(401);
    expect((await api.fetch('/api/mcp/connections', { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    const ok = await api.fetch('/api/mcp/connections', auth);
    expect(ok.status).toBe(200);
    const noAuth = await api.fetch('/api/mcp/events');
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await api.fetch('/api/mcp/health')).status).toBe(401);
    expect((await api.fetch('/livez')).status).toBe(200);
    expect((await api.fetch('/readyz')).status).toBe(200);
  });

  it('never hands MCP_MONITOR_TOKEN to the child (nor so to --entry code)', async () => {
    const api = await startApi({ env: { MCP_MONITOR_TOKEN: 's3cret-env' }, waitReady: false });
    // After exec: before it, /proc/<pid>/environ would still show the API's own environment.
    const line = await api.proc.waitForLog((l) => l.msg === 'MCP server listening', 20_000);
    const environ = (await readFile(`/proc/${line.childPid as number}/environ`, 'utf8')).split('\0');
    expect(environ.some((v) => v.startsWith('MCP_MONITOR_LOG_LEVEL='))).toBe(true);
    expect(environ.filter((v) => v.startsWith('MCP_MONITOR_TOKEN='))).toEqual([]);
    expect(environ.join('\n')).not.toContain('s3cret-env');
    // The API itself does use it.
    expect((await api.fetch('/api/mcp/servers')).status).toBe(401);
    expect((await api.fetch('/api/mcp/servers', { headers: { Authorization: 'Bearer s3cret-env' } })).status).toBe(200);
  });
});

describe('SSE', () => {
  it('sends the current snapshot at once, then each new one with serverId:pid:seq ids', async () => {
    const api = await startApi();
    const ac = new AbortController();
    const res = await api.fetch('/api/mcp/events?serverId=default', { signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events: { event?: string; id?: string; data?: string }[] = [];
    const done = readSse(res, events);
    await waitFor(() => events.length >= 1, { what: 'the first event' });
    const c = await connectClient(await api.mcpUrl(), { name: 'sse-client' });
    const withClient = await waitFor(() => events.find((e) => JSON.parse(e.data!).connections.some((x: { sessionId: string }) => x.sessionId === c.sessionId)), { what: 'an event with the session' });
    const snap = JSON.parse(withClient.data!);
    expect(withClient.event).toBe('snapshot');
    expect(withClient.id).toBe(`default:${snap.pid}:${snap.seq}`);
    const seqs = events.map((e) => JSON.parse(e.data!).seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    ac.abort();
    await done;
  });
});

describe('SSE framing', () => {
  it('sends the file\'s line as is, and re-serializes a snapshot written by hand over several lines', async () => {
    const api = await startApi();
    const now = new Date().toISOString();
    const hand = {
      schema: 'mcp-monitor/snapshot@1', serverId: 'by-hand', pid: 1, seq: 5, status: 'stopped', reason: 'shutdown', startedAt: now, writtenAt: now,
      heartbeatMs: 2000, mcp: null, activeConnections: 0, totalConnections: 2, lastUpdated: now, connections: [],
    };
    await mkdir(path.join(api.stateDir, 'by-hand'));
    await writeFile(path.join(api.stateDir, 'by-hand', 'snapshot.json'), JSON.stringify(hand, null, 2));
    await waitFor(async () => (await api.json('/api/mcp/servers/by-hand/connections')).status === 200, { what: 'the hand-written server' });
    const ac = new AbortController();
    const events: { event?: string; id?: string; data?: string }[] = [];
    const done = readSse(await api.fetch('/api/mcp/events', { signal: ac.signal }), events);
    const byHand = await waitFor(() => events.find((e) => e.id === 'by-hand:1:5'), { what: 'the by-hand frame' });
    expect(JSON.parse(byHand.data!)).toMatchObject({ serverId: 'by-hand', seq: 5, totalConnections: 2 });
    // A one-line file goes out as the file has it, byte for byte (spaces and all).
    const oneLine = JSON.stringify({ ...hand, serverId: 'one-line' }).replace(/,"/g, ', "');
    await mkdir(path.join(api.stateDir, 'one-line'));
    await writeFile(path.join(api.stateDir, 'one-line', 'snapshot.json'), `${oneLine}\n`);
    const asIs = await waitFor(() => events.find((e) => e.id === 'one-line:1:5'), { what: 'the one-line frame' });
    expect(asIs.data).toBe(oneLine);
    ac.abort();
    await done;
  });
});

describe('SSE with a slow reader', () => {
  it('holds back frames while the client does not read, then sends it the latest state', async () => {
    const api = await startApi({ args: ['--heartbeat-ms', '60000'] });
    const mcpUrl = await api.mcpUrl();
    // A reader that reads nothing until told: the socket backs up.
    const frames: { seq: number; active: number }[] = [];
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${api.url}/api/mcp/events`, resolve).on('error', reject));
    res.pause();
    // Big snapshots, one per connect: far more than the socket buffers hold. Client fields are
    // bounded (a 256-character name, a 512-character user agent), so it takes many sessions:
    // 150 of about 1 KB each make ~11 MB of frames in all.
    const ua = 'x'.repeat(512);
    const sessions = 150;
    for (let i = 0; i < sessions; i++) await rawSession(mcpUrl, `slow-${i}-${'n'.repeat(240)}`, { 'user-agent': ua });
    const final = await waitFor(async () => {
      const b = (await api.json('/api/mcp/connections')).body;
      return b.activeConnections === sessions ? b : undefined;
    }, { what: `${sessions} sessions in the API` });
    // The API still answers while the reader is stuck.
    expect((await api.fetch('/livez')).status).toBe(200);
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (data) {
          const s = JSON.parse(data.slice(6));
          frames.push({ seq: s.seq, active: s.activeConnections });
        }
      }
    });
    res.resume();
    // The child may still publish after the last connect (the operations of the last
    // initialize), so "latest" is what the API serves now, not what it served above.
    await waitFor(async () => {
      const latest = (await api.json('/api/mcp/connections')).body.seq;
      return frames.at(-1)?.seq === latest;
    }, { what: 'the latest frame' });
    expect(frames.at(-1)!.seq).toBeGreaterThanOrEqual(final.seq);
    expect(frames.at(-1)!.active).toBe(sessions);
    // Seqs only grow, and the ones written while it was stuck were skipped, not queued.
    expect(frames.map((f) => f.seq)).toEqual([...frames.map((f) => f.seq)].sort((a, b) => a - b));
    expect(frames.length).toBeLessThan(final.seq - frames[0]!.seq + 1);
    res.destroy();
  });
});

describe('supervision and faults', () => {
  it('restarts a SIGKILLed child with a new pid and comes back healthy', async () => {
    const api = await startApi();
    const pid = await api.childPid();
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await api.json('/api/mcp/health')).status === 503, { what: 'health to fail', timeout: 5000 });
    const back = await waitFor(async () => {
      const s = (await api.json('/api/mcp/servers')).body.servers[0];
      return s.status === 'running' && s.pid !== pid && !s.stale ? s : undefined;
    }, { what: 'a new child', timeout: 20_000 });
    expect(back.restarts).toBe(1);
    // The supervisor's 'exit' event reaches the API's log, with how the child ended.
    await api.proc.waitForLog((l) => l.msg === 'MCP child exited' && l.pid === pid && l.signal === 'SIGKILL' && l.expected === false);
    const health = await api.json('/api/mcp/health');
    expect(health.status).toBe(200);
    expect(health.body.checks.child.pid).toBe(back.pid);
    // The new child really serves MCP.
    const c = await connectClient(back.mcpUrl);
    await waitFor(async () => (await api.json('/api/mcp/connections')).body.connections.some((x: { sessionId: string }) => x.sessionId === c.sessionId));
  });

  it('leaves no child behind when the API is SIGKILLed', async () => {
    const api = await startApi();
    const pid = await api.childPid();
    await api.proc.stop('SIGKILL');
    await waitFor(() => !isAlive(pid), { what: 'the child to exit', timeout: 10_000 });
    const snap = JSON.parse(await readFile(path.join(api.stateDir, 'default', 'snapshot.json'), 'utf8'));
    expect(snap).toMatchObject({ pid, status: 'stopped', activeConnections: 0 });
  });

  it('stops the child cleanly on SIGTERM and exits 0', async () => {
    const api = await startApi();
    const pid = await api.childPid();
    const { code } = await api.proc.stop('SIGTERM');
    expect(code).toBe(0);
    expect(isAlive(pid)).toBe(false);
    const snap = JSON.parse(await readFile(path.join(api.stateDir, 'default', 'snapshot.json'), 'utf8'));
    expect(snap).toMatchObject({ pid, status: 'stopped' });
  });

  it('keeps serving the last good snapshot when the file turns corrupt, and says so', async () => {
    const api = await startApi({ args: ['--heartbeat-ms', '5000'] });
    const c = await connectClient(await api.mcpUrl(), { name: 'before-corruption' });
    const file = path.join(api.stateDir, 'default', 'snapshot.json');
    // Corrupt it right after a heartbeat, so that no write of the child replaces it before the API reads it.
    await waitFor(async () => {
      const s = JSON.parse(await readFile(file, 'utf8'));
      return s.reason === 'heartbeat' && s.activeConnections === 1;
    }, { what: 'a quiet heartbeat with the session' });
    await writeFile(file, '{"schema":"mcp-monitor/snapshot@1","serverId":"def');
    const health = await waitFor(async () => {
      const h = await api.json('/api/mcp/health');
      return h.status === 503 ? h : undefined;
    }, { what: 'health to report the corrupt file' });
    expect(health.body.checks.snapshot.error).toMatch(/invalid snapshot/);
    const conns = await api.json('/api/mcp/connections');
    expect(conns.status).toBe(200);
    expect(conns.body.connections[0].sessionId).toBe(c.sessionId);
    expect(conns.body.stale).toBe(true);
    expect(conns.body.snapshotError).toMatch(/snapshot\.json/);
    // The next real write heals it.
    await c.terminate();
    await waitFor(async () => {
      const h = await api.json('/api/mcp/health');
      return h.status === 200 && h.body.connections.active === 0;
    }, { what: 'the next write to heal it' });
  });

  it('lists a server it did not spawn as external', async () => {
    const api = await startApi();
    const other = await startApi({ stateDir: api.stateDir, args: ['--server-id', 'other'] });
    const s = await waitFor(async () => {
      const list = (await api.json('/api/mcp/servers')).body.servers;
      return list.find((x: { serverId: string; snapshotStatus: string }) => x.serverId === 'other' && x.snapshotStatus === 'running');
    }, { what: 'the other server' });
    expect(s.status).toBe('external');
    const c = await connectClient(s.mcpUrl, { name: 'to-other' });
    const conns = await waitFor(async () => {
      const b = (await api.json('/api/mcp/servers/other/connections')).body;
      return b.activeConnections === 1 ? b : undefined;
    });
    expect(conns.connections[0].sessionId).toBe(c.sessionId);
    void other;
  });
});
