/**
 * `--upstream` and an upstream that fails: the proxy (UpstreamHost and
 * Upstream in this process, with small timeouts) in front of real hand-written HTTP upstreams.
 * A request reaches the upstream at most once; one that gets no answer is given
 * up and its session can idle out; a `Connection` header cannot hide a header from the upstream;
 * a client cannot forge `X-Forwarded-For`; lent credentials are warned of.
 */
import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionRegistry, type SessionEnd } from '../server/sessions/session-registry.js';
import { Upstream, type UpstreamOptions } from '../server/backends/upstream/upstream.js';
import { UpstreamHost, type UpstreamHostOptions } from '../server/backends/upstream/upstream-host.js';
import { cleanup } from './helpers/processes.js';
import { INITIALIZE } from './helpers/raw-mcp.js';
import { startServer } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await cleanup();
});

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const RESULT = { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'h', version: '1' } };

/** A hand-written upstream: `handler` gets each request, its body read, and its number (1, 2…). */
async function upstreamServer(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string, n: number) => void) {
  const requests: { method: string; body: string; headers: http.IncomingHttpHeaders }[] = [];
  let sockets = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      // The probe (OPTIONS) is not a client's request.
      if (req.method === 'OPTIONS') return void res.writeHead(204).end();
      requests.push({ method: req.method!, body, headers: req.headers });
      handler(req, res, body, requests.length);
    });
  });
  server.on('connection', () => (sockets += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  closers.push(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${port}/mcp`, requests, sockets: () => sockets };
}

/** Answers an initialize with session `sid`. */
function answerInitialize(res: http.ServerResponse, sid: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': sid });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: RESULT }));
}

/** The proxy in this process, in front of `upstreamUrl`. */
async function startProxy(upstreamUrl: string, upstreamOptions: UpstreamOptions = {}, hostOptions: Partial<UpstreamHostOptions> = {}) {
  const registry = new SessionRegistry();
  const ended: SessionEnd[] = [];
  registry.on('disconnect', (end) => ended.push(end));
  const upstream = new Upstream(upstreamUrl, upstreamOptions);
  const host = new UpstreamHost({ host: '127.0.0.1', port: 0, maxSessions: 10, sessionIdleMs: 0, trustProxy: false, ...hostOptions, registry, logger: pino({ level: 'silent' }), upstream });
  closers.push(() => host.close());
  const endpoint = await host.start();
  return { url: endpoint.url, port: endpoint.port, registry, ended };
}

/** A POST through node:http (fetch() will not send a `Connection` header). */
function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method: 'POST', headers: { ...HEADERS, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    r.on('error', reject);
    r.end(JSON.stringify(body));
  });
}

const CALL = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'transfer_money', arguments: { amount: 100 } } };

describe('a request reaches the upstream at most once', () => {
  it('does not send a tools/call again when the upstream read it and then reset the connection: the client gets 502', async () => {
    // The second request is read whole, then the connection is destroyed without an answer (the
    // upstream died after acting).
    const up = await upstreamServer((req, res, _body, n) => {
      if (n === 2) return void req.socket.destroy();
      answerInitialize(res, 's1');
    });
    const { url } = await startProxy(up.url);
    expect((await post(url, {}, INITIALIZE('pay'))).status).toBe(200);
    // The initialize's connection is now idle in the pool: the call goes out on it again.
    const call = await post(url, { 'mcp-session-id': 's1' }, CALL);
    expect(call.status).toBe(502);
    expect(JSON.parse(call.body).error.message).toBe('Upstream MCP server unreachable');
    expect(up.requests.filter((r) => r.body.includes('transfer_money'))).toHaveLength(1);
  });

  it('sends a GET again, once, when the kept-alive connection it went on was closed under it', async () => {
    const up = await upstreamServer((req, res, _body, n) => {
      if (req.method === 'POST') return answerInitialize(res, 'g1');
      if (n === 2) return void req.socket.destroy();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(': ok\n\n');
    });
    const { url } = await startProxy(up.url);
    expect((await post(url, {}, INITIALIZE('get'))).status).toBe(200);
    const stream = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': 'g1' } });
    expect(stream.status).toBe(200);
    expect(await stream.text()).toBe(': ok\n\n');
    expect(up.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'GET']);
  });
});

describe('an upstream that does not answer', () => {
  it('gives a request no head came for 504 and frees its session to idle out; an SSE stream whose head came is not timed', async () => {
    const up = await upstreamServer((_req, res, body) => {
      if (body.includes('initialize')) return answerInitialize(res, 'slow-1');
      if (body.includes('hang')) return; // never answered
      // A stream: its head now, its one event after twice the head timeout.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      setTimeout(() => res.end(`data: ${JSON.stringify({ jsonrpc: '2.0', id: 3, result: { content: [] } })}\n\n`), 800);
    });
    const { url, ended } = await startProxy(up.url, { responseHeadTimeoutMs: 400 }, { sessionIdleMs: 1500 });
    expect((await post(url, {}, INITIALIZE('slow'))).status).toBe(200);
    const sse = await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': 'slow-1' }, body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'stream' } }), signal: AbortSignal.timeout(10_000) });
    expect(sse.status).toBe(200);
    expect(await sse.text()).toContain('"id":3');

    const hung = await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': 'slow-1' }, body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'hang' } }), signal: AbortSignal.timeout(10_000) });
    expect(hung.status).toBe(504);
    expect(await hung.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { message: 'Upstream MCP server did not answer in time' } });
    // Nothing in flight any more: the session ends as idle sessions do.
    await waitFor(() => ended.find((e) => e.connection.sessionId === 'slow-1'), { timeout: 10_000, what: 'the session idled out' });
    expect(ended[0]!.reason).toBe('idle');
  });

  it('counts the TLS handshake in the connect timeout: a server that accepts and says nothing gets the client a 502', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((s) => {
      held.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => {
      for (const s of held) s.destroy();
      silent.close(() => resolve());
    }));
    const { port } = silent.address() as net.AddressInfo;
    const { url } = await startProxy(`https://127.0.0.1:${port}/mcp`, { connectTimeoutMs: 300 });
    const res = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(INITIALIZE('tls')), signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('Upstream MCP server unreachable');
  });

  it('has no more requests at the upstream at once than maxSockets: the rest wait their turn', async () => {
    let open = 0;
    let most = 0;
    const up = await upstreamServer((_req, res, _body, n) => {
      open += 1;
      most = Math.max(most, open);
      setTimeout(() => {
        open -= 1;
        answerInitialize(res, `c${n}`);
      }, 200);
    });
    const { url } = await startProxy(up.url, { maxSockets: 2 });
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => post(url, {}, INITIALIZE(`c${i}`))));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(most).toBe(2);
    expect(up.sockets()).toBe(2);
  });
});

describe('what the upstream sees is what the monitor reads', () => {
  it('refuses a Connection header that would drop Mcp-Session-Id on the way, before anything is counted', async () => {
    const up = await upstreamServer((_req, res) => answerInitialize(res, 'victim'));
    const { url, registry } = await startProxy(up.url);
    expect((await post(url, {}, INITIALIZE('victim'))).status).toBe(200);
    for (const listed of ['mcp-session-id', 'Content-Type', 'keep-alive, authorization', 'accept', 'mcp-protocol-version']) {
      const res = await post(url, { 'mcp-session-id': 'victim', connection: listed }, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body).error.message).toMatch(/^Bad Request: Connection may not list [a-z-]+$/);
    }
    expect(up.requests).toHaveLength(1);
    expect(registry.get('victim')).toMatchObject({ requestCount: 1, lastMethod: 'initialize' });
  });

  it('passes the socket\'s address as X-Forwarded-For, not the client\'s, unless proxies are trusted', async () => {
    const up = await upstreamServer((_req, res, _b, n) => answerInitialize(res, `x${n}`));
    const plain = await startProxy(up.url);
    await post(plain.url, { 'x-forwarded-for': '203.0.113.9' }, INITIALIZE('forged'));
    const trusted = await startProxy(up.url, { trustProxy: 'loopback' }, { trustProxy: 'loopback' });
    await post(trusted.url, { 'x-forwarded-for': '203.0.113.9' }, INITIALIZE('behind-a-proxy'));
    expect(up.requests.map((r) => r.headers['x-forwarded-for'])).toEqual(['127.0.0.1', '203.0.113.9, 127.0.0.1']);
  });
});

describe('credentials lent to every client', () => {
  it('warns once at start when the upstream URL has credentials and --mcp-host is not loopback', async () => {
    const up = await upstreamServer((_req, res) => answerInitialize(res, 'w'));
    const withCredentials = up.url.replace('http://', 'http://monitor:hunter2@');
    const lending = await startServer({ args: ['--upstream', withCredentials, '--mcp-host', '0.0.0.0'] });
    const warn = await lending.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('credentials'));
    expect(warn).toMatchObject({ level: 40, mcpHost: '0.0.0.0' });
    expect(JSON.stringify(lending.proc.stderr)).not.toContain('hunter2');
    expect(lending.proc.logs().filter((l) => typeof l.msg === 'string' && l.msg.includes('credentials'))).toHaveLength(1);
    const local = await startServer({ args: ['--upstream', withCredentials] });
    await local.proc.waitForLog((l) => l.msg === 'upstream answers');
    expect(local.proc.logs().filter((l) => typeof l.msg === 'string' && l.msg.includes('credentials'))).toHaveLength(0);
  });
});
