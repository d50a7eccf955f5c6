/**
 * `--upstream`: the child as a reverse proxy in front of a real Streamable HTTP
 * MCP server (server-everything from npm; another mcp-monitor child for the modern era),
 * recording what passes; the upstream going away and coming back; hostile upstreams and clients.
 */
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Snapshot } from '../shared/snapshot.js';
import { startEverythingHttp, stopEverythingHttp } from './helpers/everything-http.js';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, ROOT, run, startApi } from './helpers/processes.js';
import { INITIALIZE, rawCall, rawSession } from './helpers/raw-mcp.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await closeV2Clients();
  await cleanup();
  await stopEverythingHttp();
});

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const SECRET = 's3cret-pw';
const ENTRY_V2 = path.join(ROOT, 'test', 'fixtures', 'entry-server-v2.mjs');

/** The URL of `url` with a user name and password in it. */
function withCredentials(url: string): string {
  const u = new URL(url);
  u.username = 'monitor';
  u.password = SECRET;
  return u.toString();
}

function op(s: Snapshot, method: string, name: string | null = null) {
  return s.operations?.find((o) => o.method === method && o.name === name);
}

async function journalText(stateDir: string): Promise<string> {
  return readFile(path.join(stateDir, 'default', 'events.jsonl'), 'utf8');
}

describe('--upstream in front of server-everything (Streamable HTTP)', () => {
  it('serves what the upstream serves, streams its progress, and records sessions and operations', async () => {
    const upstream = await startEverythingHttp();
    const { url, stateDir, proc } = await startServer({ args: ['--upstream', withCredentials(upstream.url)], heartbeatMs: 300 });

    const direct = new Client({ name: 'direct', version: '1' });
    await direct.connect(new StreamableHTTPClientTransport(new URL(upstream.url)));
    const expected = (await direct.listTools()).tools;
    await direct.close();

    const c = await connectClient(url, { name: 'proxied-client', version: '7.1', userAgent: 'proxy-test/1' });
    expect((await c.client.listTools()).tools).toEqual(expected);
    const progress: number[] = [];
    const result = await c.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual([1, 2, 3]);
    expect(JSON.stringify(result)).toContain('Long running operation completed');
    await c.client.callTool({ name: 'echo', arguments: { message: 'through the proxy' } });

    // The session is the upstream's: its id, the client's identity, the calls by tool.
    const snap = await waitSnap(stateDir, (s) => op(s, 'tools/call', 'echo')?.count === 1 && s.connections.length === 1, 'the echo counted');
    expect(snap.connections[0]).toMatchObject({ sessionId: c.sessionId, clientInfo: { name: 'proxied-client', version: '7.1' }, userAgent: 'proxy-test/1', era: 'legacy', lastMethod: 'tools/call' });
    expect(op(snap, 'tools/call', 'trigger-long-running-operation')).toMatchObject({ count: 1, errors: 0 });
    expect(op(snap, 'tools/list')).toMatchObject({ count: 1, errors: 0 });
    expect(op(snap, 'initialize')).toMatchObject({ count: 1, errors: 0 });
    expect(snap.backend).toMatchObject({ kind: 'upstream', target: upstream.url, upstream: { reachable: true, error: null } });

    // DELETE ends it here and upstream.
    const sid = c.sessionId;
    await c.terminate();
    const after = await waitSnap(stateDir, (s) => s.activeConnections === 0, 'the session ended');
    expect(after.sessionsClosed?.delete).toBe(1);
    expect((await rawCall(upstream.url, sid, 'tools/list')).status).toBe(400);

    // The password is nowhere: snapshot, journal, log.
    for (const text of [JSON.stringify(await readSnap(stateDir)), await journalText(stateDir), proc.stderr.join('\n')]) expect(text).not.toContain(SECRET);
  });

  it('ends an idle session upstream too (a DELETE)', async () => {
    const upstream = await startEverythingHttp();
    const { url, stateDir } = await startServer({ args: ['--upstream', upstream.url, '--session-idle-ms', '600'] });
    const idle = await rawSession(url, 'idler');
    await waitSnap(stateDir, (s) => s.sessionsClosed?.idle === 1, 'the idle session ended');
    await waitFor(async () => (await rawCall(upstream.url, idle, 'tools/list')).status === 400, { what: 'the upstream to have ended it' });
  });

  it('ends a session the upstream forgot (it restarted) with reason upstream', async () => {
    const upstream = await startEverythingHttp();
    const { url, stateDir } = await startServer({ args: ['--upstream', upstream.url] });
    // server-everything restarted: it knows no session; its "No valid session ID" ends ours,
    // asked on a kept-alive connection the old upstream closed.
    const s = await connectClient(url, { name: 'survivor' });
    await s.client.listTools();
    await upstream.kill();
    const again = await startEverythingHttp(upstream.port);
    expect(again.port).toBe(upstream.port);
    await expect(s.client.listTools()).rejects.toThrow();
    const snap = await waitSnap(stateDir, (x) => x.sessionsClosed?.upstream === 1, 'the forgotten session ended');
    expect(snap.connections).toEqual([]);
    expect(await journalText(stateDir)).toContain('"reason":"upstream"');
  });
});

describe('--upstream unreachable', () => {
  it('answers 502 without naming the upstream, health says so, and both recover when it is back', async () => {
    const upstream = await startEverythingHttp();
    const api = await startApi({ args: ['--upstream', withCredentials(upstream.url)] });
    const mcpUrl = await api.mcpUrl();
    expect((await api.json('/api/mcp/health')).status).toBe(200);
    await upstream.kill();

    const res = await fetch(mcpUrl, { method: 'POST', headers: HEADERS, body: JSON.stringify(INITIALIZE()) });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { jsonrpc: string; error: { code: number; message: string } };
    expect(body).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    expect(body.error.message).toBe('Upstream MCP server unreachable');

    const health = await waitFor(async () => {
      const h = await api.json('/api/mcp/health');
      return h.status === 503 ? h : undefined;
    }, { what: 'health to fail' });
    expect(health.body.checks.upstream).toMatchObject({ status: 'fail', target: upstream.url, reachable: false });
    expect(health.body.checks.upstream.error).toMatch(/^ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    expect(health.body.serverRunning).toBe(false);
    expect(JSON.stringify(health.body)).not.toContain(SECRET);
    // The child keeps running.
    expect(health.body.checks.child).toMatchObject({ status: 'pass', restarts: 0 });
    expect(await (await api.fetch('/metrics')).text()).toContain('mcp_upstream_up{server_id="default"} 0');
    const inspected = await run(['inspect', '--state-dir', api.stateDir]);
    expect(inspected.stdout).toMatch(new RegExp(`backend    upstream ${upstream.url.replace(/[.]/g, '\\.')} \\(UNREACHABLE since [^)]+: ECONNREFUSED: connect ECONNREFUSED`));

    // Back on the same port: the probe sees it without any client, and clients are served.
    await startEverythingHttp(upstream.port);
    await waitFor(async () => (await api.json('/api/mcp/health')).status === 200, { what: 'health to recover', timeout: 15_000 });
    expect(await (await api.fetch('/metrics')).text()).toContain('mcp_upstream_up{server_id="default"} 1');
    const c = await connectClient(mcpUrl);
    expect((await c.client.listTools()).tools.length).toBeGreaterThan(5);
    expect(api.proc.stderr.join('\n')).not.toContain(SECRET);
  });
});

describe('--upstream in front of a modern server', () => {
  it('lists a v2 auto client as modern and a v1 client as legacy, with their operations', async () => {
    const upstream = await startServer({ args: ['--entry', ENTRY_V2] });
    const proxy = await startServer({ args: ['--upstream', upstream.url] });
    const modern = await connectV2(proxy.url, { name: 'modern-through-proxy', version: '3.0' });
    await modern.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    const failed = await modern.client.callTool({ name: 'fail', arguments: {} });
    expect(failed.isError).toBe(true);
    const legacy = await connectClient(proxy.url, { name: 'legacy-through-proxy' });
    await legacy.client.callTool({ name: 'add', arguments: { a: 3, b: 4 } });

    const snap = await waitSnap(proxy.stateDir, (s) => op(s, 'tools/call', 'add')?.count === 2 && s.connections.length === 2, 'both clients and their calls');
    const rows = Object.fromEntries(snap.connections.map((c) => [c.clientInfo?.name, c]));
    expect(rows['modern-through-proxy']).toMatchObject({ era: 'modern', protocolVersion: '2026-07-28', clientInfo: { version: '3.0' } });
    expect(rows['modern-through-proxy']!.sessionId).toMatch(/^m-[0-9a-f]{16}$/);
    expect(rows['legacy-through-proxy']).toMatchObject({ era: 'legacy', sessionId: legacy.sessionId });
    // An isError result read out of the answer is an error; a tool only ever answered so is
    // counted under _OTHER while no catalog is known.
    expect(op(snap, 'tools/call', '_OTHER')).toMatchObject({ count: 1, errors: 1 });
    // The upstream saw the same clients (it hosts them).
    const up = await waitSnap(upstream.stateDir, (s) => s.connections.length === 2, 'the upstream\'s two clients');
    expect(up.connections.map((c) => c.era).sort()).toEqual(['legacy', 'modern']);
  });
});

/** A hand-written upstream that misbehaves: records what it was sent. */
async function hostileUpstream(handler: http.RequestListener): Promise<{ url: string; requests: http.IncomingMessage[]; close: () => Promise<void> }> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('--upstream against hostile input', () => {
  it('forwards headers as a proxy should and refuses a 1 MB initialize before the upstream sees it', async () => {
    const up = await hostileUpstream((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up-1', connection: 'x-secret-hop', 'x-secret-hop': 'no' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'h', version: '1' } } }));
      });
    });
    try {
      const { url, stateDir } = await startServer({ args: ['--upstream', withCredentials(up.url)] });
      const huge = INITIALIZE('x'.repeat(1024 * 1024));
      const big = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(huge) });
      expect(big.status).toBe(413);
      expect(up.requests.filter((r) => r.method === 'POST')).toHaveLength(0);

      // fetch() will not send a Connection header: node:http will.
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const r = http.request(url, { method: 'POST', headers: { ...HEADERS, 'x-forwarded-for': '203.0.113.9', connection: 'keep-alive, x-drop-me', 'x-drop-me': '1', 'user-agent': 'ua/1' } }, resolve);
        r.on('error', reject);
        r.end(JSON.stringify(INITIALIZE('fine')));
      });
      res.resume();
      expect(res.statusCode).toBe(200);
      expect(res.headers['mcp-session-id']).toBe('up-1');
      // The upstream's hop-by-hop headers stay on its hop.
      expect(res.headers['x-secret-hop']).toBeUndefined();
      const sent = up.requests.find((r) => r.method === 'POST')!;
      expect(sent.headers.host).toBe(new URL(up.url).host);
      // Without --trust-proxy the client's own X-Forwarded-For is not believed, nor passed on.
      expect(sent.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(sent.headers['x-drop-me']).toBeUndefined();
      expect(sent.headers['user-agent']).toBe('ua/1');
      expect(sent.headers.authorization).toBe(`Basic ${Buffer.from(`monitor:${SECRET}`).toString('base64')}`);
      const snap = await waitSnap(stateDir, (s) => s.connections.length === 1, 'the session');
      expect(snap.connections[0]).toMatchObject({ sessionId: 'up-1', clientInfo: { name: 'fine' } });
    } finally {
      await up.close();
    }
  });

  it('does not send a POST again when the kept-alive connection it went out on was closed under it: the client gets 502', async () => {
    // An upstream that closes each connection as its second request arrives, as one does that
    // restarted or timed the connection out while it sat idle in the proxy's pool.
    const seen = new WeakMap<object, number>();
    const up = await hostileUpstream((req, res) => {
      const n = (seen.get(req.socket) ?? 0) + (req.method === 'POST' ? 1 : 0);
      seen.set(req.socket, n);
      if (n > 1) return req.socket.destroy();
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'ka-1' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'h', version: '1' } } }));
      });
    });
    try {
      const { url } = await startServer({ args: ['--upstream', up.url] });
      const init = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(INITIALIZE('ka')) });
      expect(init.status).toBe(200);
      await init.text();
      const again = await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': 'ka-1' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
      // Its bytes went out: the upstream may have acted on it (a request is sent at most once).
      expect(again.status).toBe(502);
      await again.text();
      // initialize, tools/list on the closed connection, and no more (probes aside).
      expect(up.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
    } finally {
      await up.close();
    }
  });

  it('passes a malformed, huge, endless SSE answer through unread and tears it down when the client goes', async () => {
    let upstreamSawClose = false;
    const up = await hostileUpstream((req, res) => {
      req.resume();
      if (req.headers['mcp-session-id'] === undefined) {
        res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'sse-1' });
        return res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'h', version: '1' } } }));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {not json\n\n');
      res.write(`data: ${'y'.repeat(5 * 1024 * 1024)}\n\n`);
      res.write('data: [1, 2\n\n');
      // Never ends: a keep-alive comment now and then, until the client goes.
      const t = setInterval(() => res.write(': ping\n\n'), 50);
      res.on('close', () => {
        clearInterval(t);
        upstreamSawClose = true;
      });
    });
    try {
      const { url, stateDir, proc } = await startServer({ args: ['--upstream', up.url] });
      const init = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(INITIALIZE('sse')) });
      expect(init.status).toBe(200);
      await init.text();
      const abort = new AbortController();
      const res = await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': 'sse-1' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow' } }), signal: abort.signal });
      const reader = res.body!.getReader();
      let got = 0;
      while (got < 5 * 1024 * 1024) got += (await reader.read()).value?.length ?? 0;
      abort.abort();
      await waitFor(() => upstreamSawClose, { what: 'the upstream request torn down' });
      // The call was never answered: counted once the client has gone, under _OTHER (a name
      // never answered with a result has no entry of its own).
      const snap = await waitSnap(stateDir, (s) => op(s, 'tools/call', '_OTHER')?.count === 1, 'the unanswered call counted');
      expect(snap.connections).toHaveLength(1);
      expect(proc.alive).toBe(true);
    } finally {
      await up.close();
    }
  });
});
