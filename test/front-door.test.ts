/**
 * The front door (server/endpoint/front-door.ts) on a real HTTP server, with the two readers
 * the endpoints use: each step in its order (Host, path, screen, method, admission before the
 * body, the body under its limit, the era, the client address), what the endpoint is handed
 * (one Arrival), and that a throw of the endpoint is a 500, never the end of the process.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyBudget } from '../server/endpoint/body-budget.js';
import { jsonBodyReader, rawBodyReader, type BodyReader } from '../server/endpoint/body-readers.js';
import { frontDoor, type Arrival, type DoorSessions, type FrontDoorOptions, type SessionAdmission } from '../server/endpoint/front-door.js';
import { httpLimits } from '../server/endpoint/http-limits.js';
import { SessionSlots } from '../server/sessions/session-slots.js';
import type { TrustProxy } from '../shared/settings.js';

const log = pino({ level: 'silent' });
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r)))));
});

const MODERN = '2026-07-28';
const meta = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientInfo': { name: 'door', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };

interface Door {
  url: string;
  arrivals: Arrival[];
  sessions: DoorSessions & { closing: boolean };
}

async function door(o: { reader?: BodyReader; servesModern?: boolean; trustProxy?: TrustProxy; max?: number; admit?: (sid: string) => SessionAdmission; screen?: FrontDoorOptions['screen']; serve?: (a: Arrival) => Promise<void>; readsBody?: FrontDoorOptions['readsBody'] } = {}): Promise<Door> {
  const arrivals: Arrival[] = [];
  const sessions = { admit: o.admit ?? ((sid: string) => (sid === 'held' ? 'held' : 'unknown')), slots: new SessionSlots(o.max ?? 2, () => 0), closing: false } as Door['sessions'];
  const limits = httpLimits(2, { initializeBodyBytes: 1024, sessionBodyBytes: 8 * 1024 });
  const listener = frontDoor({
    host: '127.0.0.1',
    trustProxy: o.trustProxy ?? false,
    logger: log,
    limits,
    budget: new BodyBudget(limits.bufferedBodyBytes),
    sessions,
    servesModern: o.servesModern ?? true,
    reader: o.reader ?? jsonBodyReader(log),
    readsBody: o.readsBody ?? (() => true),
    ...(o.screen && { screen: o.screen }),
    serve: o.serve ?? (async (a) => {
      arrivals.push(a);
      const summary = { route: a.route, method: a.method, sessionId: a.sessionId ?? null, held: a.held, slot: a.slot !== undefined, body: a.body?.parsed ?? null, raw: a.body?.raw?.length ?? null, ip: a.clientIp(), ops: a.call?.ops?.map((op) => op.method) ?? null };
      a.res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(summary));
    }),
  });
  const server = http.createServer(listener);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, arrivals, sessions };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {}, headers: res.headers };
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } };

describe('front door: the steps before the endpoint, in order', () => {
  it('refuses a foreign Host (403), another path (404), another method (405) before anything else', async () => {
    let screened = 0;
    const d = await door({
      screen: () => {
        screened += 1;
        return false;
      },
    });
    const port = new URL(d.url).port;
    const raw = (path: string, method: string, host: string) =>
      new Promise<number>((resolve, reject) => http.request({ port, path, method, headers: { host } }, (res) => (res.resume(), resolve(res.statusCode!))).on('error', reject).end());
    expect(await raw('/mcp', 'POST', 'evil.example:80')).toBe(403);
    expect(screened).toBe(0);
    expect(await raw('/other', 'POST', `127.0.0.1:${port}`)).toBe(404);
    expect(screened).toBe(0);
    expect(await raw('/mcp', 'PUT', `127.0.0.1:${port}`)).toBe(405);
    expect(screened).toBe(1);
    expect(d.arrivals).toEqual([]);
  });

  it("lets the endpoint's screen answer first", async () => {
    const d = await door({ screen: (_req, res) => (res.writeHead(418).end(), true) });
    expect((await post(d.url, INIT)).status).toBe(418);
    expect(d.arrivals).toEqual([]);
  });

  it('an unknown session id gets 404 before its body is read; a held one may send a session-sized body; another id gets the small limit', async () => {
    const d = await door({ admit: (sid) => (sid === 'held' ? 'held' : sid === 'unlisted' ? 'unlisted' : 'unknown') });
    const big = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'x', arguments: { t: 'x'.repeat(4000) } } };
    expect((await post(d.url, big, { 'mcp-session-id': 'nope' })).status).toBe(404);
    const held = await post(d.url, big, { 'mcp-session-id': 'held' });
    expect(held.json).toMatchObject({ route: 'session', held: true, sessionId: 'held', ops: ['tools/call'] });
    expect((await post(d.url, big, { 'mcp-session-id': 'unlisted' })).status).toBe(413);
    expect((await post(d.url, INIT, { 'mcp-session-id': 'unlisted' })).json).toMatchObject({ route: 'session', held: false });
  });

  it('a POST without a session holds a slot until its response closes; full: 503 with Retry-After; closing: 503', async () => {
    const d = await door({ max: 1 });
    expect((await post(d.url, INIT)).json).toMatchObject({ route: 'legacy', slot: true, body: INIT });
    // The slot was freed when that response closed: the next one gets it too.
    expect((await post(d.url, INIT)).status).toBe(200);
    const taken = d.sessions.slots.reserve();
    const full = await post(d.url, INIT);
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('5');
    taken!();
    d.sessions.closing = true;
    expect((await post(d.url, INIT)).json).toMatchObject({ error: { message: 'Server is shutting down' } });
  });

  it('classifies the era once: modern with clientInfo, rejected without, legacy for an initialize or a legacy-only backend; a served modern version takes no slot and a session-sized body', async () => {
    const d = await door({ max: 0 });
    const call = (m: Record<string, unknown>) => ({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: m } });
    const headers = { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' };
    expect((await post(d.url, call(meta), headers)).json).toMatchObject({ route: 'modern', slot: false, ops: ['tools/list'] });
    const big = { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'x', arguments: { t: 'x'.repeat(4000) }, _meta: meta } };
    const bigHeaders = { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'x' };
    expect((await post(d.url, big, bigHeaders)).json).toMatchObject({ route: 'modern', ops: ['tools/call'] });
    expect((await post(d.url, call({}), headers)).json).toMatchObject({ route: 'rejected' });
    const legacyOnly = await door({ servesModern: false });
    expect((await post(legacyOnly.url, call(meta), headers)).json).toMatchObject({ route: 'legacy', slot: false });
    expect((await post(legacyOnly.url, big, bigHeaders)).status).toBe(413);
  });

  it('the JSON reader: 400 for a body that is not JSON or nests too deep, and an unread body of another type; the raw reader keeps the bytes', async () => {
    const d = await door();
    expect((await post(d.url, '{not json')).status).toBe(400);
    const deep = await post(d.url, '['.repeat(1001) + ']'.repeat(1001), { 'mcp-session-id': 'held' });
    expect(deep.json).toMatchObject({ error: { message: 'Invalid Request: JSON nested deeper than 1000 levels' } });
    expect((await post(d.url, 'hello', { 'content-type': 'text/plain' })).json).toMatchObject({ body: null, route: 'legacy' });
    const raw = await door({ reader: rawBodyReader });
    expect((await post(raw.url, INIT)).json).toMatchObject({ raw: JSON.stringify(INIT).length, body: INIT });
    expect((await post(raw.url, '{not json')).json).toMatchObject({ raw: 9, body: null });
  });

  it('reads no body for a method the endpoint streams, and times only POSTs', async () => {
    const d = await door({ readsBody: (m) => m === 'POST' });
    const res = await fetch(d.url, { method: 'GET', headers: { 'mcp-session-id': 'held' } });
    expect(await res.json()).toMatchObject({ method: 'GET', route: 'session', body: null, raw: null, ops: null });
    expect(d.arrivals[0]!.call).toBeUndefined();
  });

  it('gives the client address by --trust-proxy, worked out once', async () => {
    const off = await door();
    expect((await post(off.url, INIT, { 'x-forwarded-for': '203.0.113.9' })).json).toMatchObject({ ip: '127.0.0.1' });
    const one = await door({ trustProxy: 1 });
    expect((await post(one.url, INIT, { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' })).json).toMatchObject({ ip: '203.0.113.9' });
  });

  it('a throw of the endpoint is logged and answered 500; the next request is served', async () => {
    let n = 0;
    const d = await door({
      serve: async (a) => {
        n += 1;
        if (n === 1) throw new Error('endpoint bug');
        a.res.writeHead(204).end();
      },
    });
    const first = await post(d.url, INIT);
    expect(first.status).toBe(500);
    expect(first.json).toMatchObject({ error: { code: -32603, message: 'Internal error' } });
    expect((await post(d.url, INIT)).status).toBe(204);
  });
});
