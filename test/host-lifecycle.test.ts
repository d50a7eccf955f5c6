/**
 * Lifecycle of the child's endpoints, in this process with real HTTP: McpHost (the hosted
 * server, real SDK), UpstreamHost (the `--upstream` proxy) and its Upstream. `start()` twice
 * throws, `close()` returns the same promise, and a `close()` during `start()` makes start()
 * reject and leaves nothing listening (the port refuses connections), no timer sweeping and no
 * socket to the upstream.
 */
import http from 'node:http';
import type net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinServers } from '../server/backends/builtin/builtin.js';
import { McpHost } from '../server/backends/hosted/hosted-endpoint.js';
import { ModernCallers } from '../server/backends/hosted/modern-callers.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { Upstream } from '../server/backends/upstream/upstream.js';
import { UpstreamHost } from '../server/backends/upstream/upstream-host.js';
import { freePort } from './helpers/everything-http.js';
import { refused } from './helpers/listening.js';
import { makeStateDir } from './helpers/processes.js';
import { INITIALIZE } from './helpers/raw-mcp.js';
import { waitFor } from './helpers/wait-for.js';

const log = pino({ level: 'silent' });
const toClose: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((c) => c().catch(() => undefined)));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A clock that counts its readings: the idle sweeps of the sessions and modern clients read it. */
function countingClock(): { clock: () => number; readings: () => number } {
  let n = 0;
  return { clock: () => ((n += 1), performance.now()), readings: () => n };
}

function mcpHost(port = 0, clock?: () => number): McpHost {
  const registry = new SessionRegistry();
  const host = new McpHost({
    host: '127.0.0.1',
    port,
    maxSessions: 4,
    // Sweeps every 10 ms (sessions) and 20 ms (modern clients), while serving.
    sessionIdleMs: 1000,
    sweepIntervalMs: 10,
    clientWindowMs: 40,
    clock,
    trustProxy: false,
    registry,
    servers: builtinServers({ serverId: 'unit', registry, totalConnections: () => registry.created, startedAt: new Date(), callers: new ModernCallers() }),
    logger: log,
  });
  toClose.push(() => host.close());
  return host;
}

describe('McpHost lifecycle', () => {
  it('start() twice throws; close() returns the same promise, then the port refuses connections', async () => {
    const host = mcpHost();
    const { port } = await host.start();
    await expect(host.start()).rejects.toThrow(/McpHost already started/);
    expect(await refused(port)).toBe(false);
    const a = host.close();
    expect(host.close()).toBe(a);
    await a;
    expect(await refused(port)).toBe(true);
  });

  it('close() while start() binds the port: start() rejects, nothing listens, no sweep runs', async () => {
    const port = await freePort();
    const { clock, readings } = countingClock();
    const host = mcpHost(port, clock);
    const starting = host.start();
    const closing = host.close();
    await expect(starting).rejects.toThrow(/closed while starting/);
    // Rejected only once the port is closed again.
    expect(await refused(port)).toBe(true);
    await closing;
    const before = readings();
    await sleep(100);
    expect(readings()).toBe(before);
  });

  it('start() after close() throws and binds nothing', async () => {
    const port = await freePort();
    const host = mcpHost(port);
    await host.close();
    await expect(host.start()).rejects.toThrow(/closed/);
    expect(await refused(port)).toBe(true);
  });
});

/** A plain upstream: answers every POST with an empty JSON object; counts probes and open sockets. */
async function upstreamServer(o: { holdProbes?: boolean } = {}) {
  let probes = 0;
  let sockets = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.method === 'OPTIONS') {
      probes += 1;
      if (!o.holdProbes) res.writeHead(204).end();
      return;
    }
    req.once('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  server.on('connection', (s) => {
    sockets += 1;
    s.once('close', () => (sockets -= 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  toClose.push(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/mcp`, probes: () => probes, sockets: () => sockets };
}

function upstreamHost(upstream: Upstream, o: { port?: number; sessionsDir?: string } = {}): UpstreamHost {
  const host = new UpstreamHost({ host: '127.0.0.1', port: o.port ?? 0, maxSessions: 4, sessionIdleMs: 0, trustProxy: false, registry: new SessionRegistry(), logger: log, upstream, sessionsDir: o.sessionsDir });
  toClose.push(() => host.close());
  return host;
}

describe('UpstreamHost lifecycle', () => {
  it('start() twice throws; close() returns the same promise, then the port refuses, and once its upstream is closed no socket to it is left', async () => {
    const up = await upstreamServer();
    const upstream = new Upstream(up.url);
    const host = upstreamHost(upstream);
    const { port, url } = await host.start();
    await expect(host.start()).rejects.toThrow(/UpstreamHost already started/);
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(INITIALIZE('through')) });
    await res.text();
    expect(res.status).toBe(200);
    expect(up.sockets()).toBe(1);
    const a = host.close();
    expect(host.close()).toBe(a);
    await a;
    expect(await refused(port)).toBe(true);
    // The upstream is the backend's (server/backends/upstream/upstream-backend.ts), closed after the endpoint.
    await upstream.close();
    await waitFor(() => up.sockets() === 0, { what: 'the socket to the upstream closed' });
  });

  it('close() while start() reads the issued ids: start() rejects, the port is never bound', async () => {
    const up = await upstreamServer();
    const port = await freePort();
    const host = upstreamHost(new Upstream(up.url), { port, sessionsDir: await makeStateDir() });
    const starting = host.start();
    const closing = host.close();
    await expect(starting).rejects.toThrow(/closed while starting/);
    await closing;
    expect(await refused(port)).toBe(true);
  });
});

describe('Upstream lifecycle (its start is watch())', () => {
  it('watch() twice throws; after close() no probe goes out', async () => {
    const up = await upstreamServer();
    const u = new Upstream(up.url);
    toClose.push(() => u.close());
    u.watch(20);
    expect(() => u.watch(20)).toThrow(/already watched/);
    await waitFor(() => up.probes() >= 2, { what: 'the probes' });
    await u.close();
    const probes = up.probes();
    await sleep(100);
    expect(up.probes()).toBe(probes);
  });

  it('close() returns the same promise, cuts a probe under way and reports nothing of it', async () => {
    const up = await upstreamServer({ holdProbes: true });
    const u = new Upstream(up.url);
    toClose.push(() => u.close());
    const changes: unknown[] = [];
    u.on('change', (s) => changes.push(s));
    const probing = u.probe();
    await waitFor(() => up.probes() === 1, { what: 'the probe held by the upstream' });
    const a = u.close();
    expect(a).toBeInstanceOf(Promise);
    expect(u.close()).toBe(a);
    await a;
    await probing;
    expect(changes).toEqual([]);
    expect(u.state).toBeNull();
    await waitFor(() => up.sockets() === 0, { what: 'the probe\'s socket closed' });
  });

  it('watch() after close() sends no probe and starts no timer', async () => {
    const up = await upstreamServer();
    const u = new Upstream(up.url);
    await u.close();
    u.watch(20);
    await sleep(100);
    expect(up.probes()).toBe(0);
    expect(up.sockets()).toBe(0);
  });
});
