/**
 * What request bodies may cost the child (see server/endpoint/body-budget.ts and server/endpoint/http-limits.ts):
 * 64 KiB unless the child holds the session or the request is a modern one of a version the
 * backend serves; one budget of buffered request bytes; sockets per client address; modern
 * identities listed per client address. McpHost and UpstreamHost in this process with small
 * numbers; real HTTP, real sockets, real SDK transports behind them.
 */
import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinServers } from '../server/backends/builtin/builtin.js';
import { httpLimits } from '../server/endpoint/http-limits.js';
import { McpHost, type McpHostOptions } from '../server/backends/hosted/hosted-endpoint.js';
import { ModernCallers } from '../server/backends/hosted/modern-callers.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { Upstream } from '../server/backends/upstream/upstream.js';
import { UpstreamHost } from '../server/backends/upstream/upstream-host.js';
import { rawCall, rawSession } from './helpers/raw-mcp.js';
import { waitFor } from './helpers/wait-for.js';

const closers: (() => Promise<void>)[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(closers.splice(0).map((c) => c()));
});

type Options = Partial<Omit<McpHostOptions, 'registry' | 'servers' | 'logger'>>;

function logger(logs: any[]) {
  return pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
}

async function startHost(options: Options = {}) {
  const registry = new SessionRegistry();
  const logs: any[] = [];
  const host = new McpHost({
    host: '127.0.0.1',
    port: 0,
    maxSessions: 10,
    sessionIdleMs: 0,
    trustProxy: false,
    ...options,
    registry,
    servers: builtinServers({ serverId: 'unit', registry, totalConnections: () => registry.created, startedAt: new Date(), callers: new ModernCallers() }),
    logger: logger(logs),
  });
  closers.push(() => host.close());
  const endpoint = await host.start();
  return { registry, logs, url: endpoint.url, port: endpoint.port };
}

/** An `--upstream` proxy in front of a built-in host. */
async function startProxy(options: Options = {}) {
  const backend = await startHost();
  const registry = new SessionRegistry();
  const upstream = new Upstream(backend.url);
  const host = new UpstreamHost({ host: '127.0.0.1', port: 0, maxSessions: 10, sessionIdleMs: 0, trustProxy: false, ...options, registry, logger: logger([]), upstream });
  closers.push(async () => {
    await host.close();
    await upstream.close();
  });
  const endpoint = await host.start();
  return { registry, url: endpoint.url, port: endpoint.port };
}

/** Request headers sent by hand on a socket, with some of the body (or none); what comes back, and whether it closed. */
function rawPost(port: number, headers: Record<string, string>, body = '', localAddress?: string) {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  sockets.push(socket);
  let received = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (received += d));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined); // reset when the server cuts it: what some tests wait for
  const lines = Object.entries({ host: `127.0.0.1:${port}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.write(`POST /mcp HTTP/1.1\r\n${lines.join('')}\r\n${body}`);
  return { socket, received: () => received, closed: () => closed };
}

const MODERN = '2026-07-28';
const modernMeta = (name: string) => ({ 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientInfo': { name, version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} });

/** A modern `tools/call` of the built-in `echo`, from `ip` when the host believes X-Forwarded-For. */
async function modernEcho(url: string, name: string, text: string, ip?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo', ...(ip ? { 'x-forwarded-for': ip } : {}) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text }, _meta: modernMeta(name) } }),
  });
  return { status: res.status, text: await res.text() };
}

const SIXTY_FOUR_KIB = 64 * 1024;

describe('the body limit without a session the child holds', () => {
  it('a version the backend does not serve declaring 5 MB gets 413 at once, its body never read', async () => {
    const { port } = await startHost();
    const c = rawPost(port, { 'mcp-protocol-version': '2099-01-01', 'content-length': String(5_000_000) });
    await waitFor(() => c.closed(), { what: 'the connection to be closed' });
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(c.received()).toContain('"Request body too large"');
  });

  it('a body passing 64 KiB without a session gets 413 as it passes, and the connection is closed before the client finished', async () => {
    const { port } = await startHost();
    // Chunked, so no length is declared: the limit is found while reading. The last chunk is never sent.
    const chunk = 'x'.repeat(SIXTY_FOUR_KIB + 1);
    const c = rawPost(port, { 'transfer-encoding': 'chunked' }, `${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await waitFor(() => c.closed(), { what: 'the connection to be closed' });
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('64 KiB + 1 declared without a session gets 413, with a legacy version or none', async () => {
    const { port } = await startHost();
    for (const headers of [{}, { 'mcp-protocol-version': '2025-06-18' }] as Record<string, string>[]) {
      const c = rawPost(port, { ...headers, 'content-length': String(SIXTY_FOUR_KIB + 1) });
      await waitFor(() => c.closed(), { what: 'the connection to be closed' });
      expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
    }
  });

  it('a modern request of a served version and a real session may still send more than 64 KiB', async () => {
    const { url } = await startHost();
    const text = 'm'.repeat(200 * 1024);
    const modern = await modernEcho(url, 'big-modern', text);
    expect(modern.status).toBe(200);
    expect(modern.text).toContain(text);
    const sid = await rawSession(url);
    const legacy = await rawCall(url, sid, 'tools/call', { name: 'echo', arguments: { text } });
    expect(legacy.status).toBe(200);
    expect(legacy.body.result.content[0].text).toBe(text);
  });

  it('--upstream: an unknown session id is no session (413 over 64 KiB), a session it holds gets 4 MiB', async () => {
    const { url, port } = await startProxy();
    const c = rawPost(port, { 'mcp-session-id': 'no-such-session', 'mcp-protocol-version': '2025-06-18', 'content-length': String(SIXTY_FOUR_KIB + 1) });
    await waitFor(() => c.closed(), { what: 'the connection to be closed' });
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
    const future = rawPost(port, { 'mcp-protocol-version': '2099-01-01', 'content-length': String(5_000_000) });
    await waitFor(() => future.closed(), { what: 'the connection to be closed' });
    expect(future.received()).toMatch(/^HTTP\/1\.1 413 /);
    const text = 'p'.repeat(200 * 1024);
    const sid = await rawSession(url);
    const r = await rawCall(url, sid, 'tools/call', { name: 'echo', arguments: { text } });
    expect(r.status).toBe(200);
    expect(r.body.result.content[0].text).toBe(text);
    expect((await modernEcho(url, 'big-modern', text)).status).toBe(200);
  });
});

describe('the budget of buffered request bytes', () => {
  const MIB = 1024 * 1024;

  async function fillAndRelease(url: string, port: number) {
    const sid = await rawSession(url);
    const probe = () => rawCall(url, sid, 'tools/call', { name: 'echo', arguments: { text: 'b'.repeat(MIB) } });
    expect((await probe()).status).toBe(200);
    // Three senders of a real session declare 1 MiB each, send a little, and stall: the budget (3 MiB) is held.
    const stalled = [0, 1, 2].map(() => rawPost(port, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18', 'content-length': String(MIB) }, '{"jsonrpc":"2.0",'));
    let refused: { status: number; body: any } | undefined;
    const res = await waitFor(async () => {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'b'.repeat(MIB) } } }),
      });
      refused = { status: r.status, body: await r.text() };
      return r.status === 503 ? r : undefined;
    }, { what: 'a request past the budget to be refused' });
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(JSON.parse(refused!.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
    expect(stalled.every((s) => !s.closed())).toBe(true);
    // The stalled senders go: their shares are free again.
    for (const s of stalled) s.socket.destroy();
    await waitFor(async () => (await probe()).status === 200, { what: 'a request to fit once the stalled senders left' });
  }

  it('built-in: senders stalled past it make the next get 503 with Retry-After; once they disconnect a request succeeds', async () => {
    const { url, port } = await startHost({ limits: { bufferedBodyBytes: 3 * MIB } });
    await fillAndRelease(url, port);
  });

  it('--upstream: the same', async () => {
    const { url, port } = await startProxy({ limits: { bufferedBodyBytes: 3 * MIB } });
    await fillAndRelease(url, port);
  });

  it('is 64 MiB by default', () => {
    expect(httpLimits(1000).bufferedBodyBytes).toBe(64 * MIB);
  });
});

describe('sockets per client address', () => {
  it('closes connections past the cap of one address, while another address is still served', async () => {
    const { port, logs } = await startHost({ limits: { maxConnections: 10, maxConnectionsPerIp: 2 } });
    const held = [rawPost(port, { 'content-length': '1000' }), rawPost(port, { 'content-length': '1000' })];
    await waitFor(() => held.every((h) => h.socket.readyState === 'open'), { what: 'the two connections to be open' });
    const third = rawPost(port, { 'content-length': '1000' });
    await waitFor(() => third.closed(), { what: 'a third connection from 127.0.0.1 to be closed' });
    expect(third.received()).toBe('');
    expect(logs.find((l) => l.msg === 'connection limit of one address reached; its new connections closed')).toMatchObject({ level: 40, maxConnectionsPerIp: 2, ip: '127.0.0.1' });
    // 127.0.0.2 is another address (all of 127/8 is loopback on Linux).
    const other = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, localAddress: '127.0.0.2', path: '/mcp', method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    });
    expect(other).toBe(400);
    expect(held.every((h) => !h.closed())).toBe(true);
  });

  it('defaults to half of maxConnections', () => {
    expect(httpLimits(1000)).toMatchObject({ maxConnections: 4000, maxConnectionsPerIp: 2000 });
    expect(httpLimits(10)).toMatchObject({ maxConnections: 256, maxConnectionsPerIp: 128 });
  });
});

describe('modern identities listed per client address', () => {
  it('invented identities from one address cannot fill the list; another address still gets listed', async () => {
    // 40 listed at most; a tenth, at least 16, from one address.
    const { url, registry, logs } = await startHost({ maxSessions: 40, trustProxy: 1 });
    for (let i = 0; i < 20; i += 1) expect((await modernEcho(url, `fake-${i}`, 'x', '198.51.100.7')).status).toBe(200);
    expect((await modernEcho(url, 'real-client', 'x', '203.0.113.8')).status).toBe(200);
    const rows = registry.list();
    expect(rows.filter((c) => c.clientIP === '198.51.100.7')).toHaveLength(16);
    expect(rows.filter((c) => c.clientIP === '203.0.113.8').map((c) => c.clientInfo?.name)).toEqual(['real-client']);
    expect(logs.find((l) => l.msg === 'modern client limit of one address reached; its further clients are served but not listed')).toMatchObject({ maxPerIp: 16 });
  });
});
