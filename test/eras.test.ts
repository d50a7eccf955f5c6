/**
 * Both protocol eras on one `/mcp`: real `mcp-monitor server` processes,
 * real clients of SDK v1 (legacy) and SDK v2 in `auto` mode (modern against a v2 backend, legacy
 * after falling back against a v1 one), real files.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectLine, type DisconnectLine } from '../shared/journal.js';
import { readJournal } from '../shared/io/read-journal.js';
import type { Connection } from '../shared/snapshot.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { cleanup, isAlive } from './helpers/processes.js';
import { rawSession } from './helpers/raw-mcp.js';
import { readSnap } from './helpers/server-process.js';
import { startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

afterEach(async () => {
  await closeV2Clients();
  await closeClients();
  await cleanup();
});

async function journal(stateDir: string) {
  return (await readJournal(path.join(stateDir, 'default'), () => undefined)).lines;
}

const byName = (name: string) => (c: Connection) => c.clientInfo?.name === name;

describe('the built-in server serves both eras', () => {
  it('lists a v2 auto client as modern and a v1 client as legacy at the same time', async () => {
    const { url, stateDir } = await startServer();
    const modern = await connectV2(url, { name: 'v2-auto', version: '2.1.0', userAgent: 'agent-v2' });
    const legacy = await connectClient(url, { name: 'v1-client', userAgent: 'agent-v1' });
    const echo = await modern.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(echo.content).toEqual([{ type: 'text', text: 'hi' }]);
    await legacy.client.callTool({ name: 'echo', arguments: { text: 'ho' } });

    const snap = await waitSnap(stateDir, (s) => s.connections.some((c) => byName('v2-auto')(c) && c.lastMethod === 'tools/call') && s.connections.some((c) => byName('v1-client')(c) && c.lastMethod === 'tools/call'), 'both clients after their calls');
    const m = snap.connections.find(byName('v2-auto'))!;
    expect(m.era).toBe('modern');
    expect(m.sessionId).toMatch(/^m-[0-9a-f]{16}$/);
    expect(m.clientInfo).toEqual({ name: 'v2-auto', version: '2.1.0' });
    expect(m.protocolVersion).toBe('2026-07-28');
    expect(m.userAgent).toBe('agent-v2');
    expect(m.requestCount).toBeGreaterThanOrEqual(2); // server/discover, then the call
    const l = snap.connections.find(byName('v1-client'))!;
    expect(l).toMatchObject({ era: 'legacy', sessionId: legacy.sessionId, lastMethod: 'tools/call' });
    expect(snap.activeConnections).toBe(2);

    const lines = await journal(stateDir);
    const connects = lines.filter((x): x is ConnectLine => x.event === 'connect');
    expect(connects.find((c) => c.sessionId === m.sessionId)).toMatchObject({ era: 'modern', clientInfo: { name: 'v2-auto', version: '2.1.0' } });
    expect(connects.find((c) => c.sessionId === legacy.sessionId)).toMatchObject({ era: 'legacy' });
  });

  it('gives the same id to the same client on every request, and another to another User-Agent', async () => {
    const { url, stateDir } = await startServer();
    const a = await connectV2(url, { name: 'same', userAgent: 'ua-1' });
    const b = await connectV2(url, { name: 'same', userAgent: 'ua-1' });
    const c = await connectV2(url, { name: 'same', userAgent: 'ua-2' });
    await Promise.all([a, b, c].map((x) => x.client.callTool({ name: 'echo', arguments: { text: 'x' } })));
    const snap = await waitSnap(stateDir, (s) => s.connections.filter(byName('same')).reduce((n, x) => n + x.requestCount, 0) >= 6, 'six requests');
    const rows = snap.connections.filter(byName('same'));
    expect(rows.map((r) => r.userAgent).sort()).toEqual(['ua-1', 'ua-2']);
  });

  it('connection_stats shows a modern caller its own connection and only counts of the others', async () => {
    const { url } = await startServer();
    const other = await connectClient(url, { name: 'someone-else', userAgent: 'secret-agent' });
    await other.client.callTool({ name: 'echo', arguments: { text: 'x' } });
    const me = await connectV2(url, { name: 'me-modern', userAgent: 'my-agent' });
    const res = await me.client.callTool({ name: 'connection_stats', arguments: {} });
    const stats = res.structuredContent as any;
    expect(stats.you).toMatchObject({ era: 'modern', clientInfo: { name: 'me-modern' }, userAgent: 'my-agent', lastMethod: 'tools/call' });
    expect(stats.you.sessionId).toMatch(/^m-/);
    expect(stats.activeConnections).toBe(2);
    expect(stats.otherConnections).toBe(1);
    const text = JSON.stringify(res);
    expect(text).not.toContain(other.sessionId);
    expect(text).not.toContain('secret-agent');
    expect(text).not.toContain('someone-else');
  });
});

describe('--entry backends', () => {
  it('a v2 factory serves both eras', async () => {
    const { url, stateDir, snap } = await startServer({ args: ['--entry', path.join(FIXTURES, 'entry-server-v2.mjs')] });
    expect(snap.backend).toMatchObject({ kind: 'entry' });
    const modern = await connectV2(url, { name: 'm-user' });
    const legacy = await connectClient(url, { name: 'l-user' });
    expect((await modern.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).content).toEqual([{ type: 'text', text: '3' }]);
    expect((await legacy.client.callTool({ name: 'add', arguments: { a: 2, b: 2 } })).content).toEqual([{ type: 'text', text: '4' }]);
    const s = await waitSnap(stateDir, (x) => x.connections.some(byName('m-user')) && x.connections.some(byName('l-user')), 'both listed');
    expect(s.connections.find(byName('m-user'))!.era).toBe('modern');
    expect(s.connections.find(byName('l-user'))!.era).toBe('legacy');
  });

  it('a v1 factory serves a v2 auto client after it falls back to initialize (listed legacy)', async () => {
    const { url, stateDir } = await startServer({ args: ['--entry', path.join(FIXTURES, 'entry-server-v1.mjs')] });
    const c = await connectV2(url, { name: 'falls-back' });
    expect((await c.client.callTool({ name: 'add', arguments: { a: 20, b: 22 } })).content).toEqual([{ type: 'text', text: '42' }]);
    expect((await c.client.callTool({ name: 'fail', arguments: {} })).isError).toBe(true);
    const s = await waitSnap(stateDir, (x) => x.connections.some(byName('falls-back')), 'the client listed');
    const row = s.connections.find(byName('falls-back'))!;
    expect(row.era).toBe('legacy');
    expect(row.sessionId).not.toMatch(/^m-/);
    expect(row.protocolVersion).not.toBe('2026-07-28');
    // Operations through the v1 transport: the refused probe (the caller's fault), initialize, the call.
    const ops = (await waitSnap(stateDir, (x) => x.operations?.some((o) => o.name === '_OTHER') ?? false, 'the calls counted')).operations!;
    expect(ops.find((o) => o.method === 'server/discover')).toMatchObject({ count: 1, errors: 0 });
    expect(ops.find((o) => o.method === 'initialize')).toMatchObject({ count: 1, errors: 0 });
    expect(ops.find((o) => o.name === 'add')).toMatchObject({ method: 'tools/call', count: 1, errors: 0 });
    // A tool only ever answered with isError has no entry of its own while no catalog is known.
    expect(ops.find((o) => o.name === '_OTHER')).toMatchObject({ method: 'tools/call', count: 1, errors: 1 });
  });

  it('a full v1 backend answers a modern probe 400 (the client falls back), not 503 (it would fail)', async () => {
    const { url } = await startServer({ args: ['--entry', path.join(FIXTURES, 'entry-server.mjs'), '--max-sessions', '1'] });
    await rawSession(url, 'holds-the-only-slot');
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: { 'io.modelcontextprotocol/clientInfo': { name: 'probe', version: '1' } } } }),
    });
    const body = (await res.json()) as { error: { code: number } };
    expect(res.status).toBe(400);
    expect(body.error.code).not.toBe(-32022);
    // An initialize still meets the cap.
    const init = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }) });
    await init.text();
    expect(init.status).toBe(503);
  });
});

describe('a modern client comes and goes', () => {
  it('leaves with reason idle after --client-window-ms of quiet; one with an open listen stream stays', async () => {
    const { url, stateDir } = await startServer({ args: ['--client-window-ms', '300'] });
    const quiet = await connectV2(url, { name: 'quiet' });
    const listener = await connectV2(url, { name: 'listener' });
    const sub = await listener.client.listen({ toolsListChanged: true });
    await waitSnap(stateDir, (s) => s.connections.some(byName('quiet')) && s.connections.some(byName('listener')), 'both listed');
    const gone = await waitFor(async () => (await journal(stateDir)).find((x): x is DisconnectLine => x.event === 'disconnect' && x.clientInfo?.name === 'quiet'), { timeout: 15_000, what: 'the quiet client leaving' });
    expect(gone).toMatchObject({ reason: 'idle', era: 'modern' });
    // Its duration runs from its first request to its last, not through the window after it:
    // it was listed at least durationMs + the window (ms rounding aside).
    const connect = (await journal(stateDir)).find((x): x is ConnectLine => x.event === 'connect' && x.sessionId === gone.sessionId)!;
    expect(Date.parse(gone.ts) - Date.parse(connect.connectedAt!)).toBeGreaterThanOrEqual(gone.durationMs + 300 - 2);
    // The listener, quiet for longer than the window, is held by its open stream.
    const s = await waitSnap(stateDir, (x) => {
      const row = x.connections.find(byName('listener'));
      return !row || Date.parse(x.writtenAt) - Date.parse(row.lastActivity) > 900;
    }, 'the listener quiet for three windows (or gone)');
    expect(s.connections.some(byName('listener'))).toBe(true);
    expect((await journal(stateDir)).some((x) => x.event === 'disconnect' && x.clientInfo?.name === 'listener')).toBe(false);
    await sub.close();
    const left = await waitFor(async () => (await journal(stateDir)).find((x): x is DisconnectLine => x.event === 'disconnect' && x.clientInfo?.name === 'listener'), { timeout: 15_000, what: 'the listener leaving' });
    expect(left.reason).toBe('idle');
  });

  it('a shutdown ends an open listen stream gracefully and the modern client with reason shutdown', async () => {
    const { url, stateDir, proc } = await startServer();
    const listener = await connectV2(url, { name: 'still-listening' });
    const sub = await listener.client.listen({ toolsListChanged: true });
    await waitSnap(stateDir, (s) => s.connections.some(byName('still-listening')), 'listed');
    const { code } = await proc.stop();
    expect(code).toBe(0);
    expect(isAlive(proc.pid)).toBe(false);
    // McpHost.close() closes the modern handler: it ends the stream with its final response.
    expect(await sub.closed).toBe('graceful');
    const last = await readSnap(stateDir);
    expect(last).toMatchObject({ status: 'stopped', activeConnections: 0 });
    const end = (await journal(stateDir)).find((x): x is DisconnectLine => x.event === 'disconnect' && x.clientInfo?.name === 'still-listening');
    expect(end).toMatchObject({ reason: 'shutdown', era: 'modern' });
    expect(last.operations!.find((o) => o.method === 'subscriptions/listen')).toMatchObject({ count: 1, errors: 0 });
  });

  it('bounds what a modern client says about itself, and lists no client for a request the SDK refuses', async () => {
    const { url, stateDir } = await startServer();
    const meta = (clientInfo: unknown) => ({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': clientInfo, 'io.modelcontextprotocol/clientCapabilities': {} });
    const post = async (version: string, clientInfo: unknown, ua: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': version, 'mcp-method': 'tools/list', 'user-agent': ua },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { ...meta(clientInfo), 'io.modelcontextprotocol/protocolVersion': version } } }),
      });
      await res.text();
      return res.status;
    };
    // A version the server does not speak: refused (-32022), and no client listed for it.
    expect(await post('2099-01-01', { name: 'from-the-future', version: '1' }, 'ua')).toBe(400);
    const evil = `\u001b]0;pwned\u0007${'n'.repeat(2000)}`;
    expect(await post('2026-07-28', { name: evil, version: '1\u001b[2J', extra: 'x'.repeat(1000) }, `agent\t${'u'.repeat(2000)}`)).toBe(200);
    const s = await waitSnap(stateDir, (x) => x.activeConnections >= 1, 'the client listed');
    expect(s.activeConnections).toBe(1);
    const row = s.connections[0]!;
    expect(row.era).toBe('modern');
    expect(row.clientInfo!.name).toHaveLength(256);
    expect(row.clientInfo).toEqual({ name: row.clientInfo!.name, version: '1[2J' });
    expect(row.userAgent).toBe(`agent${'u'.repeat(507)}`);
    expect(row.clientInfo!.name).toBe(`]0;pwned${'n'.repeat(248)}`);
  });

  it('a flood of invented modern identities is served but the listed ones stay bounded', async () => {
    const { url, stateDir, proc } = await startServer({ args: ['--max-sessions', '5'] });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
        body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: `fake-${i}`, version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} } } }),
      });
      await res.text();
      statuses.push(res.status);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    const snap = await waitSnap(stateDir, (s) => s.activeConnections === 5, 'five listed');
    expect(snap.connections.every((c) => c.era === 'modern')).toBe(true);
    await proc.waitForLog((l) => l.msg === 'modern client limit reached; further clients are served but not listed');
    expect(proc.logs().filter((l) => l.msg === 'modern client limit reached; further clients are served but not listed')).toHaveLength(1);
  });
});
