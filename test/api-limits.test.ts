/**
 * The API's HTTP limits, in process (so that the limits can be small): a half-sent request is
 * cut off, connections are capped, SSE and socket.io subscribers are capped, and SSE after
 * shutdown answers the error JSON. Real HTTP on port 0, a real watcher on a fresh state dir,
 * real socket.io clients.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServerLimits } from '../api/api-server.js';
import { createApp } from '../api/app.js';
import type { ChildSupervisor } from '../api/child-supervisor.js';
import { MonitoringNamespace } from '../api/monitoring-namespace.js';
import { ServerCatalog } from '../api/server-catalog.js';
import { SnapshotWatcher } from '../api/snapshot-watcher.js';
import { SseHub } from '../api/sse-hub.js';
import { waitFor } from './helpers/wait-for.js';

const logger = pino({ level: 'silent' });
const closers: (() => Promise<unknown> | unknown)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface TestApi {
  server: http.Server;
  sse: SseHub;
  monitoring: MonitoringNamespace;
  port: number;
  url: string;
}

/** The API's app, HTTP server, SSE hub and socket.io namespace as main.ts wires them, without a child. */
async function startApp(o: { limits?: ApiServerLimits; maxSse?: number; maxSockets?: number; keepAliveMs?: number } = {}): Promise<TestApi> {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-limits-'));
  closers.push(() => rm(stateDir, { recursive: true, force: true }));
  const watcher = new SnapshotWatcher({ stateDir, logger });
  await watcher.start();
  closers.push(() => watcher.close());
  const catalog = new ServerCatalog({ watcher, supervisors: new Map<string, ChildSupervisor>(), defaultServerId: 'default' });
  const sse = new SseHub({ maxClients: o.maxSse, keepAliveMs: o.keepAliveMs });
  const allowedHosts = new Set(['localhost', '127.0.0.1', '[::1]']);
  const app = createApp({ catalog, sse, allowedHosts, logger });
  const server = createApiServer(app, o.limits);
  const monitoring = new MonitoringNamespace({ server, catalog, allowedHosts, logger, maxClients: o.maxSockets });
  await monitoring.start();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    const sseClosed = sse.close();
    await monitoring.close();
    server.closeAllConnections();
    await Promise.all([sseClosed, new Promise((r) => server.close(r))]);
  });
  const { port } = server.address() as net.AddressInfo;
  return { server, sse, monitoring, port, url: `http://127.0.0.1:${port}` };
}

/** A raw TCP connection that records what it receives and when it closes. */
function rawSocket(port: number): { socket: net.Socket; received: () => string; closed: () => boolean; connected: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1');
  closers.push(() => socket.destroy());
  let data = '';
  let isClosed = false;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  socket.on('error', () => undefined); // ECONNRESET when the server drops it: what some tests expect.
  socket.on('close', () => (isClosed = true));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received: () => data, closed: () => isClosed, connected };
}

/** Opens `GET /api/mcp/events` and resolves with the response once its headers arrive. */
function openSse(url: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/api/mcp/events`, resolve);
    req.on('error', reject);
    closers.push(() => req.destroy());
  });
}

async function bodyOf(res: http.IncomingMessage): Promise<any> {
  let text = '';
  res.setEncoding('utf8');
  for await (const chunk of res) text += chunk;
  return JSON.parse(text);
}

describe('HTTP server limits', () => {
  const small: ApiServerLimits = { headersTimeoutMs: 200, requestTimeoutMs: 400, checkIntervalMs: 50 };

  it('cuts off a request whose headers never end', async () => {
    const api = await startApp({ limits: small });
    const c = rawSocket(api.port);
    await c.connected;
    c.socket.write('GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    await waitFor(c.closed, { what: 'the half-sent request to be cut off', timeout: 10_000 });
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('keeps an SSE stream open well past the request timeout (it limits receiving the request only)', async () => {
    const api = await startApp({ limits: small, keepAliveMs: 400 });
    const res = await openSse(api.url);
    expect(res.statusCode).toBe(200);
    let comments = 0;
    res.setEncoding('utf8');
    res.on('data', (d: string) => (comments += d.split(': keep-alive').length - 1));
    // Three keep-alives come 1.2 s after the stream opened: three request timeouts, 24 checks.
    await waitFor(() => comments >= 3, { what: 'three keep-alive comments', timeout: 20_000 });
    expect(res.destroyed).toBe(false);
    expect(api.sse.size).toBe(1);
  });

  it('keeps a socket.io long-polling client working well past the request timeout', async () => {
    const api = await startApp({ limits: small, keepAliveMs: 400 });
    const socket = io(`${api.url}/monitoring`, { forceNew: true, reconnection: false, transports: ['polling'] });
    closers.push(() => socket.disconnect());
    let disconnected = '';
    socket.on('disconnect', (why) => (disconnected = why));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    // The SSE keep-alives are the clock: three of them span three request timeouts, while a
    // poll of this client is held open by the server.
    const res = await openSse(api.url);
    let comments = 0;
    res.setEncoding('utf8');
    res.on('data', (d: string) => (comments += d.split(': keep-alive').length - 1));
    await waitFor(() => comments >= 3, { what: 'three keep-alive comments', timeout: 20_000 });
    expect(disconnected).toBe('');
    // A round trip still works (no server of that id: an error ack is an answer).
    const ack = await socket.timeout(10_000).emitWithAck('subscribe_mcp_connections', { serverId: 'nope' });
    expect(ack).toMatchObject({ status: 'error', error: { code: 'unknown_server' } });
  });

  it('closes connections past maxConnections at once', async () => {
    const api = await startApp({ limits: { maxConnections: 2 } });
    const open = [rawSocket(api.port), rawSocket(api.port)];
    for (const c of open) {
      c.socket.write('GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await waitFor(() => c.received().includes('"status":"ok"'), { what: 'an answer on a kept-alive connection' });
    }
    const third = rawSocket(api.port);
    third.socket.write('GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor(third.closed, { what: 'the third connection to be dropped' });
    expect(third.received()).toBe('');
    expect(open.every((c) => !c.closed())).toBe(true);
  });
});

describe('subscriber caps', () => {
  it('answers 503 with the error JSON past the SSE cap, and takes a new subscriber once one leaves', async () => {
    const api = await startApp({ maxSse: 2 });
    const first = await openSse(api.url);
    const second = await openSse(api.url);
    expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
    const third = await openSse(api.url);
    expect(third.statusCode).toBe(503);
    expect(third.headers['content-type']).toMatch(/^application\/json/);
    expect((await bodyOf(third)).error).toMatchObject({ code: 'too_many_subscribers', message: expect.stringMatching(/at most 2/) });
    first.destroy();
    await waitFor(() => api.sse.size === 1, { what: 'the first subscriber to be gone' });
    expect((await openSse(api.url)).statusCode).toBe(200);
  });

  it('answers 503 with the error JSON once the SSE hub is closed (shutdown)', async () => {
    const api = await startApp();
    await api.sse.close();
    const res = await openSse(api.url);
    expect(res.statusCode).toBe(503);
    expect((await bodyOf(res)).error).toMatchObject({ code: 'shutting_down' });
  });

  it('refuses a socket.io client past the cap with a clear error', async () => {
    const api = await startApp({ maxSockets: 2 });
    const sockets: Socket[] = [];
    const connect = () => {
      const s = io(`${api.url}/monitoring`, { forceNew: true, reconnection: false });
      sockets.push(s);
      closers.push(() => s.disconnect());
      return s;
    };
    for (let i = 0; i < 2; i++) {
      const s = connect();
      await new Promise<void>((resolve, reject) => {
        s.once('connect', () => resolve());
        s.once('connect_error', reject);
      });
    }
    const err = await new Promise<Error & { data?: { code: string; message: string } }>((resolve, reject) => {
      const s = connect();
      s.once('connect', () => reject(new Error('connected past the cap')));
      s.once('connect_error', resolve);
    });
    expect(err.message).toBe('too_many_clients');
    expect(err.data).toMatchObject({ code: 'too_many_clients', message: expect.stringMatching(/at most 2/) });
    expect(api.monitoring.size).toBe(2);
  });
});
