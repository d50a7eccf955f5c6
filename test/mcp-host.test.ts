/**
 * McpHost in this process, with small limits and an injected clock, so that what takes
 * minutes with the real settings is quick here: slow requests, the Host rule,
 * monotonic idle times and durations. Real HTTP, real SDK transports.
 */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { allowedHostNames, isHostAllowed } from '../shared/host-check.js';
import { builtinServers } from '../server/backends/builtin/builtin.js';
import { ModernCallers } from '../server/backends/hosted/modern-callers.js';
import { McpHost, type McpHostOptions } from '../server/backends/hosted/hosted-endpoint.js';
import { SessionRegistry, type SessionEnd } from '../server/sessions/session-registry.js';
import { INITIALIZE, rawCall, rawSession } from './helpers/raw-mcp.js';
import { waitFor } from './helpers/wait-for.js';

const hosts: McpHost[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

type Options = Partial<Omit<McpHostOptions, 'registry' | 'servers' | 'logger'>> & { registry?: SessionRegistry };

async function startHost(options: Options = {}) {
  const registry = options.registry ?? new SessionRegistry();
  const logs: any[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const host = new McpHost({
    host: '127.0.0.1',
    port: 0,
    maxSessions: 10,
    sessionIdleMs: 0,
    trustProxy: false,
    ...options,
    registry,
    servers: builtinServers({ serverId: 'unit', registry, totalConnections: () => registry.created, startedAt: new Date(), callers: new ModernCallers() }),
    logger,
  });
  hosts.push(host);
  const endpoint = await host.start();
  return { host, registry, logs, url: endpoint.url, port: endpoint.port };
}

/** One request with any Host header, to `connectTo` (an address, IPv6 without brackets). */
function request(connectTo: string, port: number, hostHeader: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: connectTo, port, path: '/mcp', method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', host: hostHeader } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** A POST without session id that is not an initialize: 400 when a slot is free, 503 when none is. */
async function probeSlot(url: string): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
  await res.text();
  return res.status;
}

/** Sends the headers of an initialize and part of its body, then nothing more. */
function halfSentInitialize(port: number): { socket: net.Socket; closed: () => boolean; received: () => string } {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  let closed = false;
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (received += d));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined); // ECONNRESET when the server cuts it: what the test waits for
  socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":"2.0",`);
  return { socket, closed: () => closed, received: () => received };
}

describe('slow and half-sent requests', () => {
  it('counts an initialize still reading its body against maxSessions, and frees the slot when it goes', async () => {
    const { url, port } = await startHost({ maxSessions: 1 });
    expect(await probeSlot(url)).toBe(400);
    const slow = halfSentInitialize(port);
    await waitFor(async () => (await probeSlot(url)) === 503, { what: 'the half-sent initialize to hold the only slot' });
    slow.socket.destroy();
    await waitFor(async () => (await probeSlot(url)) === 400, { what: 'the slot to be free again' });
  });

  it('cuts off a client that sends headers and never finishes its body, but not an open SSE stream', async () => {
    const limits = { headersTimeoutMs: 200, requestTimeoutMs: 300, checkIntervalMs: 50 };
    const { url, port, registry } = await startHost({ maxSessions: 2, limits });
    // A session with its GET stream open: a response, which no timeout may end.
    const sid = await rawSession(url, 'streamer');
    const stream = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
    expect(stream.status).toBe(200);
    let streamEnded = false;
    const reader = stream.body!.getReader();
    void (async () => {
      try {
        while (!(await reader.read()).done);
      } catch {
        // aborted by the test's cleanup or cut by the server: either way it ended
      }
      streamEnded = true;
    })();

    const slow = halfSentInitialize(port);
    await waitFor(() => slow.closed(), { timeout: 20_000, what: 'the server to close the half-sent request' });
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408/);
    // Its slot is free again: the second session fits.
    const second = await rawSession(url, 'second');
    expect(registry.list().map((c) => c.sessionId).sort()).toEqual([sid, second].sort());
    expect(streamEnded).toBe(false);
    await reader.cancel();
  });

  it('cuts off a client that never finishes its headers', async () => {
    const { port } = await startHost({ limits: { headersTimeoutMs: 200, requestTimeoutMs: 300, checkIntervalMs: 50 } });
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined); // ECONNRESET when the server cuts it: what the test waits for
    socket.resume(); // read the 408, so that the end of the socket is seen
    socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: appl`);
    await waitFor(() => closed, { timeout: 20_000, what: 'the server to close the half-sent headers' });
  });

  it('closes connections past maxConnections, and says so in its log', async () => {
    const { port, url, logs } = await startHost({ limits: { maxConnections: 2 } });
    // Two idle sockets take both places (no request: nothing else times them out here).
    const held = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
    sockets.push(...held);
    await Promise.all(held.map((s) => new Promise((r) => s.once('connect', r))));
    const third = halfSentInitialize(port);
    await waitFor(() => third.closed(), { what: 'the third connection to be closed' });
    expect(third.received()).toBe('');
    expect(logs.find((l) => l.msg === 'connection limit reached; new connections closed')).toMatchObject({ level: 40, maxConnections: 2, dropped: 1 });
    for (const s of held) s.destroy();
    await waitFor(async () => (await probeSlot(url).catch(() => 0)) === 400, { what: 'a place once the sockets left' });
  });

  it('answers 413 to an initialize over the small body limit', async () => {
    const { url, registry } = await startHost({ limits: { initializeBodyBytes: 1024 } });
    const big = INITIALIZE('x'.repeat(2000));
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(big) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });
    expect(registry.size).toBe(0);
    expect(await probeSlot(url)).toBe(400);
  });
});

describe('request bodies', () => {
  it('answers 404 to an unknown session id without parsing its body, even one over the session limit', async () => {
    const { url } = await startHost();
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'no-such-session' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'p'.repeat(5 * 1024 * 1024) } }),
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
  });

  it('lets an existing session send more than the initialize limit', async () => {
    const { url } = await startHost({ limits: { initializeBodyBytes: 1024 } });
    const sid = await rawSession(url);
    const text = 't'.repeat(4096);
    const r = await rawCall(url, sid, 'tools/call', { name: 'echo', arguments: { text } });
    expect(r.status).toBe(200);
    expect(r.body.result.content[0].text).toBe(text);
  });
});

describe('the Host header', () => {
  it('a specific IPv6 bind address is accepted in brackets, with its port', () => {
    const allowed = allowedHostNames('fd00::5', []);
    expect(isHostAllowed('[fd00::5]:3322', allowed)).toBe(true);
    expect(isHostAllowed('[FD00::5]', allowed)).toBe(true);
    expect(isHostAllowed('[fd00::6]:3322', allowed)).toBe(false);
    expect(isHostAllowed('fd00::5', allowed)).toBe(false);
  });

  it('bound to ::1 accepts the loopback names and refuses others with a JSON-RPC 403', async () => {
    const { port } = await startHost({ host: '::1' });
    expect((await request('::1', port, `[::1]:${port}`, INITIALIZE())).status).toBe(200);
    expect((await request('::1', port, `localhost:${port}`, INITIALIZE())).status).toBe(200);
    const evil = await request('::1', port, `evil.example:${port}`, INITIALIZE());
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body)).toEqual({ jsonrpc: '2.0', error: { code: -32000, message: 'Invalid Host header' }, id: null });
  });

  const ipv6 = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv6' && !a.internal && !a.address.startsWith('fe80'))?.address;
  it.runIf(ipv6)(`bound to a specific non-loopback IPv6 address (${ipv6}) accepts it as Host`, async () => {
    const { port, url } = await startHost({ host: ipv6! });
    expect(new URL(url).hostname).toBe(`[${ipv6}]`);
    expect((await request(ipv6!, port, `[${ipv6}]:${port}`, INITIALIZE())).status).toBe(200);
    expect((await request(ipv6!, port, `evil.example:${port}`, INITIALIZE())).status).toBe(403);
  });

  it('accepts --allowed-hosts names whatever their port, and still refuses others', async () => {
    const { port } = await startHost({ allowedHosts: ['mcp.internal', '[fd00::5]'] });
    expect((await request('127.0.0.1', port, 'MCP.Internal:8443', INITIALIZE())).status).toBe(200);
    expect((await request('127.0.0.1', port, '[fd00::5]:3322', INITIALIZE())).status).toBe(200);
    expect((await request('127.0.0.1', port, `127.0.0.1:${port}`, INITIALIZE())).status).toBe(200);
    expect((await request('127.0.0.1', port, 'other.internal', INITIALIZE())).status).toBe(403);
  });
});

describe('monotonic clock', () => {
  it('closes an idle session by the monotonic clock, and its duration comes from that clock', async () => {
    let now = 1_000_000;
    const clock = () => now;
    const registry = new SessionRegistry({ clock });
    const ends: (SessionEnd & { at: number })[] = [];
    registry.on('disconnect', (e) => ends.push({ ...e, at: now }));
    const { url } = await startHost({ registry, clock, sessionIdleMs: 3_600_000, sweepIntervalMs: 20 });
    await rawSession(url, 'idler');
    // Each poll moves the clock an hour on: the next sweep finds the session idle.
    await waitFor(() => {
      now += 3_600_001;
      return ends.length === 1;
    }, { what: 'the idle close' });
    expect(ends[0]!.reason).toBe('idle');
    expect(ends[0]!.durationMs).toBe(ends[0]!.at - 1_000_000);
    expect(ends[0]!.durationMs).toBeGreaterThanOrEqual(3_600_001);
  });

  it('computes durations from the monotonic start, whatever the wall clock did', () => {
    let t = 500;
    const registry = new SessionRegistry({ clock: () => t });
    const ends: SessionEnd[] = [];
    registry.on('disconnect', (e) => ends.push(e));
    // connectedAt far ahead of the wall clock at removal: a wall-clock duration would be negative.
    const iso = '2030-01-01T00:00:00.000Z';
    registry.add({ sessionId: 's1', clientIP: '127.0.0.1', userAgent: null, connectedAt: iso, lastActivity: iso, requestCount: 1, clientInfo: null, protocolVersion: null });
    t = 1750.4;
    expect(registry.remove('s1', 'delete', new Date('2020-01-01T00:00:00.000Z'))).toBe(true);
    expect(ends.map((e) => e.durationMs)).toEqual([1250]);
  });
});

describe('logging', () => {
  it('logs the end of a session at debug', async () => {
    const { url, logs } = await startHost();
    const sid = await rawSession(url);
    const res = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
    expect(res.status).toBe(200);
    const line = await waitFor(() => logs.find((l) => l.msg === 'session ended'), { what: 'the log line' });
    expect(line).toMatchObject({ level: 20, sessionId: sid, reason: 'delete' });
  });
});
