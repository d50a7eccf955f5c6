/**
 * Lifecycle of the `--command` session objects, from the source with real processes, a real SDK
 * transport and real HTTP: StdioBridge (connect twice throws, close() the same promise, close
 * during connect or after its process exited leaves nothing running) and LegacySessions (start
 * twice throws, close() the same promise, close during an initialize whose process is starting
 * leaves no session and no process), and the hard limits of the flow control (see
 * server/backends/command/bridge-flow.ts): past them the session ends with reason `overflow` and its process
 * is ended.
 */
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { BridgeFlowOptions } from '../server/backends/command/bridge-flow.js';
import { StdioBridge } from '../server/backends/command/stdio-bridge.js';
import { StdioProcess } from '../server/backends/command/stdio-process.js';
import { LegacySessions } from '../server/backends/hosted/legacy-sessions.js';
import type { ServerSource } from '../server/backends/hosted/server-source.js';
import { LEGACY_ONLY } from '../server/backends/backend.js';
import { BodyBudget } from '../server/endpoint/body-budget.js';
import { jsonBodyReader } from '../server/endpoint/body-readers.js';
import { frontDoor } from '../server/endpoint/front-door.js';
import { httpLimits } from '../server/endpoint/http-limits.js';
import { SessionRegistry, type SessionEnd } from '../server/sessions/session-registry.js';
import { isAlive, makeStateDir, ROOT } from './helpers/processes.js';
import { INITIALIZE, rawSession } from './helpers/raw-mcp.js';
import { waitFor } from './helpers/wait-for.js';

const log = pino({ level: 'silent' });
const FLOOD = path.join(ROOT, 'test', 'fixtures', 'stdio-flood.mjs');
const DEAF = path.join(ROOT, 'test', 'fixtures', 'stdio-unreading.mjs');
const toClose: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((c) => c().catch(() => undefined)));
});

async function bridge(script: string): Promise<StdioBridge> {
  const p = new StdioProcess([process.execPath, '-e', script], log);
  await p.start();
  const b = new StdioBridge(p, log);
  toClose.push(() => b.close());
  return b;
}
const transport = () => new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });

describe('StdioBridge lifecycle', () => {
  it('connect() twice throws; close() returns the same promise and ends the process', async () => {
    const b = await bridge('process.stdin.resume()');
    await b.connect(transport() as never);
    await expect(b.connect(transport() as never)).rejects.toThrow(/already connected/);
    const a = b.close();
    expect(b.close()).toBe(a);
    await a;
    expect(isAlive(b.pid!)).toBe(false);
  });

  it('close() during connect() leaves nothing running; connect() after close() throws', async () => {
    const b = await bridge('process.stdin.resume()');
    const connecting = b.connect(transport() as never);
    const closing = b.close();
    await connecting;
    await closing;
    expect(isAlive(b.pid!)).toBe(false);
    await expect(b.connect(transport() as never)).rejects.toThrow(/closed/);
  });

  it('close() after its process exited resolves at once with how it exited', async () => {
    const b = await bridge('process.exit(3)');
    await b.connect(transport() as never);
    await expect(b.exited).resolves.toMatchObject({ code: 3 });
    await b.close();
    await b.close();
    expect(isAlive(b.pid!)).toBe(false);
  });
});

/** LegacySessions on a real HTTP server, each session's server a bridged process of `argv`. */
async function legacy(argv: string[], o: { flow?: BridgeFlowOptions; onCreate?: (b: StdioBridge) => void } = {}) {
  const registry = new SessionRegistry();
  const ended: SessionEnd[] = [];
  registry.on('disconnect', (d: SessionEnd) => ended.push(d));
  const bridges: StdioBridge[] = [];
  const servers: ServerSource = {
    sdk: 'v1',
    eras: LEGACY_ONLY,
    create: async () => {
      const p = new StdioProcess(argv, log);
      await p.start();
      const b = new StdioBridge(p, log, undefined, o.flow);
      bridges.push(b);
      o.onCreate?.(b);
      return { server: b, process: b };
    },
  };
  const sessions = new LegacySessions({ registry, servers, logger: log, maxSessions: 10, sessionIdleMs: 0 });
  const limits = httpLimits(10);
  const door = frontDoor({
    host: '127.0.0.1',
    trustProxy: false,
    logger: log,
    limits,
    budget: new BodyBudget(limits.bufferedBodyBytes),
    sessions,
    servesModern: false,
    reader: jsonBodyReader(log),
    readsBody: () => true,
    serve: (a) => (a.method === 'POST' ? sessions.post(a) : sessions.existing(a)),
  });
  const server = http.createServer(door);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  toClose.push(async () => {
    server.closeAllConnections();
    await Promise.all([sessions.close(), ...bridges.map((b) => b.close())]);
    await new Promise((r) => server.close(r));
  });
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/mcp`;
  return { sessions, registry, ended, bridges, url };
}

const HEADERS = (sid: string) => ({ 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });

describe('LegacySessions lifecycle', () => {
  it('start() twice throws; close() returns the same promise and ends every session (shutdown) and its process', async () => {
    const l = await legacy([process.execPath, DEAF]);
    l.sessions.start();
    expect(() => l.sessions.start()).toThrow(/already started/);
    await rawSession(l.url, 'one');
    const a = l.sessions.close();
    expect(l.sessions.close()).toBe(a);
    await a;
    expect(l.ended.map((d) => d.reason)).toEqual(['shutdown']);
    expect(l.bridges.map((b) => isAlive(b.pid!))).toEqual([false]);
  });

  it('close() while an initialize is starting its process: 503, no session, no process left', async () => {
    let closing: Promise<void> | undefined;
    const l = await legacy([process.execPath, DEAF], { onCreate: () => (closing = l.sessions.close()) });
    const res = await fetch(l.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(INITIALIZE('late')) });
    await res.text();
    await closing;
    expect(res.status).toBe(503);
    expect(l.registry.size).toBe(0);
    await waitFor(() => l.bridges.length === 1 && !isAlive(l.bridges[0]!.pid!), { what: 'its process ended' });
  });

  it('close() after a session ended by its process exiting: process-exit once, nothing else', async () => {
    const l = await legacy([process.execPath, '-e', 'let b="";process.stdin.on("data",(d)=>{b+=d;const m=JSON.parse(b.split("\\n")[0]);process.stdout.write(JSON.stringify({jsonrpc:"2.0",id:m.id,result:{protocolVersion:m.params.protocolVersion,capabilities:{},serverInfo:{name:"x",version:"1"}}})+"\\n",()=>setTimeout(()=>process.exit(0),100))})']);
    await rawSession(l.url, 'short-lived');
    await waitFor(() => l.ended.length === 1, { what: 'the session ended' });
    await l.sessions.close();
    await l.sessions.close();
    expect(l.ended.map((d) => d.reason)).toEqual(['process-exit']);
  });
});

describe('flow control hard limits', () => {
  it('ends a session with reason close when more than the budget reaches a stalled stream (here 1000 bytes: the next ~1 KB message)', async () => {
    const dir = await makeStateDir();
    const l = await legacy([process.execPath, FLOOD, dir, '40000'], { flow: { outputBudget: 1000 } });
    const sid = await rawSession(l.url, 'never-reads');
    const u = new URL(l.url);
    const s = net.connect(Number(u.port), u.hostname);
    toClose.push(async () => s.destroy());
    s.pause();
    s.write(`GET /mcp HTTP/1.1\r\nHost: ${u.host}\r\nAccept: text/event-stream\r\nMcp-Session-Id: ${sid}\r\nMcp-Protocol-Version: 2025-06-18\r\n\r\n`);
    await waitFor(() => l.sessions.has(sid) && s.bytesWritten > 0, { what: 'the GET stream sent' });
    await new Promise((r) => setTimeout(r, 200));
    const r = await fetch(l.url, { method: 'POST', headers: HEADERS(sid), body: JSON.stringify({ jsonrpc: '2.0', method: 'flood' }) });
    await r.text();
    await waitFor(() => l.ended.length === 1, { timeout: 20_000, what: 'the session ended' });
    expect(l.ended[0]).toMatchObject({ reason: 'close', connection: { sessionId: sid } });
    await waitFor(() => !isAlive(l.bridges[0]!.pid!), { what: 'its process ended' });
  });

  it('ends a session with reason process-exit (and its process) when its process leaves more than the hard limit of its stdin unread', async () => {
    const l = await legacy([process.execPath, DEAF], { flow: { inputHard: 1024 * 1024 } });
    const sid = await rawSession(l.url, 'deaf-overflow');
    const big = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/x', params: { pad: 'z'.repeat(2 * 1024 * 1024) } });
    const r = await fetch(l.url, { method: 'POST', headers: HEADERS(sid), body: big });
    await r.text();
    await waitFor(() => l.ended.length === 1, { what: 'the session ended' });
    expect(l.ended[0]).toMatchObject({ reason: 'process-exit', connection: { sessionId: sid } });
    await waitFor(() => !isAlive(l.bridges[0]!.pid!), { timeout: 15_000, what: 'its process ended' });
    const after = await fetch(l.url, { method: 'POST', headers: HEADERS(sid), body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) });
    await after.text();
    expect(after.status).toBe(404);
  });
});
