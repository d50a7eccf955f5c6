/**
 * What one MCP client can do to the others and to the monitor through `/mcp`: learn other clients'
 * ids or IPs (`connection_stats`), bloat the files or fill them with control characters (bounded at
 * the source), forge its IP behind a proxy. A really spawned `mcp-monitor server`, real files, real
 * HTTP and real SDK clients.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectClient, closeClients } from './helpers/mcp-client.js';
import { cleanup } from './helpers/processes.js';
import { startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** A raw `initialize` with any `clientInfo` and headers. */
function initialize(url: string, clientInfo: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const body = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo } };
  return fetch(url, { method: 'POST', headers: { ...HEADERS, ...headers }, body: JSON.stringify(body) });
}

async function journalLines(stateDir: string): Promise<{ text: string; lines: any[] }> {
  const text = await readFile(path.join(stateDir, 'default', 'events.jsonl'), 'utf8');
  return { text, lines: text.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

function journalConnects(stateDir: string, n: number): Promise<any[]> {
  return waitFor(async () => {
    const c = (await journalLines(stateDir)).lines.filter((l) => l.event === 'connect');
    return c.length >= n ? c : undefined;
  }, { what: `${n} connect line(s) in the journal` });
}

describe('connection_stats', () => {
  it('tells a client about its own session and only counts of the others', async () => {
    // Two IPs through one trusted proxy hop, so that "the other's IP" is something to look for.
    const { url } = await startServer({ args: ['--trust-proxy', '1'] });
    const alice = await connectClient(url, { name: 'alice-client', headers: { 'X-Forwarded-For': '198.51.100.7' } });
    const bob = await connectClient(url, { name: 'bob-client', headers: { 'X-Forwarded-For': '203.0.113.8' } });
    const pairs = [[alice, bob, '198.51.100.7', '203.0.113.8', 'alice-client', 'bob-client'], [bob, alice, '203.0.113.8', '198.51.100.7', 'bob-client', 'alice-client']] as const;
    for (const [me, other, myIp, otherIp, myName, otherName] of pairs) {
      const r = (await me.client.callTool({ name: 'connection_stats', arguments: {} })) as { content: { text: string }[]; structuredContent: any };
      const everything = JSON.stringify(r);
      expect(everything).not.toContain(other.sessionId);
      expect(everything).not.toContain(otherIp);
      expect(everything).not.toContain(otherName);
      expect(r.structuredContent).toMatchObject({
        activeConnections: 2,
        totalConnections: 2,
        otherConnections: 1,
        you: { sessionId: me.sessionId, clientIP: myIp, clientInfo: { name: myName, version: '1.0.0' } },
      });
      expect(r.structuredContent.you.requestCount).toBeGreaterThanOrEqual(2);
      expect(JSON.parse(r.content[0]!.text)).toEqual(r.structuredContent);
    }
    const tool = (await alice.client.listTools()).tools.find((t) => t.name === 'connection_stats')!;
    expect(tool.description).toMatch(/your own connection/i);
  });
});

describe('what a client sends is bounded', () => {
  it('refuses an initialize over 64 KiB with 413: no session, and the files stay small', async () => {
    const { url, stateDir } = await startServer();
    const res = await initialize(url, { name: 'huge', version: '1', junk: 'x'.repeat(1_000_000) });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32000, message: 'Request body too large' }, id: null });
    expect(res.headers.get('mcp-session-id')).toBeNull();

    const after = await connectClient(url, { name: 'after' });
    const s = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the normal session');
    expect(s.connections.map((c) => c.sessionId)).toEqual([after.sessionId]);
    expect(s.totalConnections).toBe(1);
    expect((await stat(path.join(stateDir, 'default', 'snapshot.json'))).size).toBeLessThan(4096);
    const connects = await journalConnects(stateDir, 1);
    expect(connects.map((c) => c.sessionId)).toEqual([after.sessionId]);
    for (const line of (await journalLines(stateDir)).text.split('\n')) expect(line.length).toBeLessThan(2048);
  });

  it('keeps only name, version and title, at most 256 characters, without control characters', async () => {
    const { url, stateDir } = await startServer();
    const clientInfo = {
      name: '\u001b]0;PWNED\u0007' + 'N'.repeat(30_000),
      version: '1.0\u009b2J' + 'V'.repeat(20_000),
      title: 'T\u007fit\u0000le',
      junk: 'J'.repeat(5_000),
      nested: { deep: ['a', 'b'] },
      websiteUrl: 'https://example.com',
    };
    expect(JSON.stringify(clientInfo).length).toBeGreaterThan(55_000);
    const res = await initialize(url, clientInfo);
    expect(res.status).toBe(200);
    await res.text();
    const expected = { name: ']0;PWNED' + 'N'.repeat(248), version: '1.02J' + 'V'.repeat(251), title: 'Title' };
    expect(expected.name).toHaveLength(256);
    expect(expected.version).toHaveLength(256);

    const s = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the session');
    expect(s.connections[0]!.clientInfo).toEqual(expected);
    const text = await readFile(path.join(stateDir, 'default', 'snapshot.json'), 'utf8');
    expect(text.length).toBeLessThan(4096);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]|\\u00[01][0-9a-f]|\\u007f|\\u009/i);

    const [connect] = await journalConnects(stateDir, 1);
    expect(connect.clientInfo).toEqual(expected);
    const { text: journal } = await journalLines(stateDir);
    expect(journal.length).toBeLessThan(4096);
    expect(journal).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]|\\u00[01][0-9a-f]|\\u007f|\\u009/i);
  });

  it('cuts a 2 KiB User-Agent to 512 characters and removes its control characters', async () => {
    const { url, stateDir } = await startServer();
    // A C1 control (CSI) can arrive in a header: Node decodes header bytes as latin1.
    const res = await initialize(url, { name: 'ua', version: '1' }, { 'user-agent': 'agent\u009b/' + 'u'.repeat(2048) });
    expect(res.status).toBe(200);
    await res.text();
    const s = await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the session');
    expect(s.connections[0]!.userAgent).toBe('agent/' + 'u'.repeat(506));
    const [connect] = await journalConnects(stateDir, 1);
    expect(connect.userAgent).toBe('agent/' + 'u'.repeat(506));
  });

  it('still takes large requests within a session (4 MiB)', async () => {
    const { url } = await startServer();
    const c = await connectClient(url);
    const text = 'e'.repeat(300_000);
    const r = (await c.client.callTool({ name: 'echo', arguments: { text } })) as { content: { text: string }[] };
    expect(r.content[0]!.text).toBe(text);
  });
});

describe('client IP behind proxies', () => {
  const forged = { 'x-forwarded-for': '6.6.6.6, 10.1.2.3' };

  async function ipOf(args: string[], headers: Record<string, string>): Promise<string | null> {
    const { url, stateDir } = await startServer({ args });
    const res = await initialize(url, { name: 'ip', version: '1' }, headers);
    expect(res.status).toBe(200);
    await res.text();
    return (await waitSnap(stateDir, (x) => x.activeConnections === 1, 'the session')).connections[0]!.clientIP;
  }

  it('with --trust-proxy 1 records the address the proxy added, not the forged leftmost one', async () => {
    expect(await ipOf(['--trust-proxy', '1'], forged)).toBe('10.1.2.3');
  });

  it('with --trust-proxy loopback stops at the first address that is not loopback', async () => {
    expect(await ipOf(['--trust-proxy', 'loopback'], forged)).toBe('10.1.2.3');
  });

  it('without --trust-proxy records the socket address', async () => {
    expect(await ipOf([], forged)).toBe('127.0.0.1');
  });

  it('records "unknown" for a forwarded entry that is not an IP address', async () => {
    expect(await ipOf(['--trust-proxy', '1'], { 'x-forwarded-for': 'evil\u009b[2J' + 'z'.repeat(3000) })).toBe('unknown');
  });
});

describe('bodies the child cannot read are the client’s fault', () => {
  it('an unknown charset gets 415 and a body that does not inflate 400, with no error in the log', async () => {
    const { url, proc } = await startServer();
    const post = (headers: Record<string, string>, body: string) =>
      fetch(url, { method: 'POST', headers: { accept: 'application/json, text/event-stream', ...headers }, body });
    const charset = await post({ 'content-type': 'application/json; charset=latin1' }, '{}');
    expect(charset.status).toBe(415);
    expect(await charset.json()).toMatchObject({ error: { code: -32000, message: 'Unsupported Media Type: use UTF-8 JSON, identity, gzip, deflate or br' } });
    const gzip = await post({ 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'not gzip at all');
    expect(gzip.status).toBe(400);
    expect(await gzip.json()).toMatchObject({ error: { code: -32700 } });
    const unknown = await post({ 'content-type': 'application/json', 'content-encoding': 'zstd-or-what' }, '{}');
    expect(unknown.status).toBe(415);
    // The next request is served: the log has no error line for any of these.
    const c = await connectClient(url, { name: 'after-bad-bodies' });
    await c.client.listTools();
    expect(proc.logs().filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});
