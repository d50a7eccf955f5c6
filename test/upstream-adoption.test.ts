/**
 * `--upstream` adoption (see server/backends/upstream/issued-sessions.ts): a request with a session id
 * this child does not list is listed only when the upstream was seen to issue that id (by this
 * child or one before it for the same server id), never on a 202, and only with a free session
 * slot. Also: a batch that repeats a JSON-RPC id records each request with its own outcome
 * (see server/backends/upstream/pending-by-id.ts).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Snapshot } from '../shared/snapshot.js';
import { startEverythingHttp, stopEverythingHttp } from './helpers/everything-http.js';
import { cleanup, makeStateDir, ROOT } from './helpers/processes.js';
import { rawCall, rawSession } from './helpers/raw-mcp.js';
import { startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const ends: (() => void)[] = [];

afterEach(async () => {
  for (const end of ends.splice(0)) end();
  await cleanup();
  await stopEverythingHttp();
});

/** test/fixtures/stateless-upstream.mjs: answers 200 to every POST, whatever its session id. */
async function statelessUpstream(): Promise<string> {
  const up = spawn(process.execPath, [path.join(ROOT, 'test', 'fixtures', 'stateless-upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  ends.push(() => up.kill('SIGKILL'));
  let out = '';
  up.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const port = await waitFor(() => /UP (\d+)/.exec(out)?.[1], { what: 'the stateless upstream' });
  return `http://127.0.0.1:${port}/mcp`;
}

async function journal(stateDir: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path.join(stateDir, 'default', 'events.jsonl'), 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

/** The ids the child remembers as issued by the upstream (its side file). */
async function issuedIds(stateDir: string): Promise<string[]> {
  const text = await readFile(path.join(stateDir, 'default', 'upstream-sessions.json'), 'utf8').catch(() => '{"ids":[]}');
  return (JSON.parse(text) as { ids: string[] }).ids;
}

/** A snapshot written after now (a heartbeat at least), so that it shows what came before. */
function snapAfterNow(stateDir: string, pred: (s: Snapshot) => boolean = () => true, what = 'a later snapshot'): Promise<Snapshot> {
  const t = Date.now();
  return waitSnap(stateDir, (s) => Date.parse(s.writtenAt) > t + 50 && pred(s), what);
}

function listed(s: Snapshot, sid: string): boolean {
  return s.connections.some((c) => c.sessionId === sid);
}

describe('--upstream lists only sessions the upstream issued', () => {
  it('300 random ids to a stateless upstream with --max-sessions 10 are forwarded, none listed or journalled', async () => {
    const { url, stateDir } = await startServer({ args: ['--upstream', await statelessUpstream(), '--max-sessions', '10'], heartbeatMs: 300 });
    let ok = 0;
    for (let i = 0; i < 300; i++) {
      const r = await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': `fake-${i}-${Math.random()}` }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
      await r.text();
      if (r.status === 200) ok += 1;
    }
    // Forwarded as they came: the upstream answered each.
    expect(ok).toBe(300);
    const snap = await snapAfterNow(stateDir);
    expect(snap.activeConnections).toBe(0);
    expect(snap.connections).toEqual([]);
    expect(snap.totalConnections).toBe(0);
    expect((await journal(stateDir)).filter((l) => l.event === 'connect')).toEqual([]);
    expect(await issuedIds(stateDir)).toEqual([]);
  });

  it('a session server-everything issued is listed again after kill -9 and after a clean stop; adoption takes a slot (503 at the cap), a 202 never adopts', async () => {
    const upstream = await startEverythingHttp();
    const stateDir = await makeStateDir();
    const args = ['--upstream', upstream.url, '--max-sessions', '2'];
    const first = await startServer({ stateDir, args, heartbeatMs: 300 });
    const a = await rawSession(first.url, 'a');
    const b = await rawSession(first.url, 'b');
    await waitFor(async () => (await issuedIds(stateDir)).length === 2, { what: 'both ids remembered' });
    first.proc.child.kill('SIGKILL');
    await first.proc.exited;

    const second = await startServer({ stateDir, args, heartbeatMs: 300 });
    // A notification's 202 says nothing about the session: not adopted.
    const n = await fetch(second.url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': a, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    await n.text();
    expect(n.status).toBe(202);
    expect(listed(await snapAfterNow(stateDir), a)).toBe(false);
    // A request answered 200: listed again, with the id the upstream issued.
    expect((await rawCall(second.url, a, 'tools/list')).status).toBe(200);
    const withA = await waitSnap(stateDir, (s) => listed(s, a), 'a listed again');
    expect(withA.connections.find((c) => c.sessionId === a)).toMatchObject({ era: 'legacy', lastMethod: 'tools/list' });

    // A new session takes the last slot: b, issued but not listed, is refused as an initialize is.
    const c = await rawSession(second.url, 'c');
    const full = await fetch(second.url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': b, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }) });
    const text = await full.text();
    const body = JSON.parse(text) as { error: { message: string } };
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('5');
    expect(body.error.message).toBe('Too many sessions (limit 2); retry later');
    // An id never issued is no adoption: forwarded (server-everything refuses it), not refused here.
    expect((await rawCall(second.url, 'never-issued', 'tools/list')).status).not.toBe(503);
    const atCap = await snapAfterNow(stateDir);
    expect(atCap.connections.map((x) => x.sessionId).sort()).toEqual([a, c].sort());

    // A slot freed (c deleted): b is adopted.
    const del = await fetch(second.url, { method: 'DELETE', headers: { ...HEADERS, 'mcp-session-id': c, 'mcp-protocol-version': '2025-06-18' } });
    await del.text();
    expect((await rawCall(second.url, b, 'tools/list')).status).toBe(200);
    await waitSnap(stateDir, (s) => listed(s, b) && listed(s, a) && !listed(s, c), 'b adopted once c is gone');
    await waitFor(async () => !(await issuedIds(stateDir)).includes(c), { what: 'the deleted id forgotten' });

    // A clean stop lists no session in its last snapshot; the ids are kept all the same.
    await second.proc.stop('SIGTERM');
    const third = await startServer({ stateDir, args, heartbeatMs: 300 });
    expect(third.snap.connections).toEqual([]);
    expect((await rawCall(third.url, b, 'tools/list')).status).toBe(200);
    await waitSnap(stateDir, (s) => listed(s, b) && s.pid === third.proc.pid, 'b listed by the third child');
    // The deleted one is gone upstream and here: never listed again.
    expect((await rawCall(third.url, c, 'tools/list')).status).not.toBe(200);
    expect(listed(await snapAfterNow(stateDir), c)).toBe(false);
  }, 60_000);
});

describe('--upstream batches', () => {
  it('a batch that repeats a JSON-RPC id records each request with its own outcome', async () => {
    // Answers a batch of two with the same id: an error, then a result (as a server may).
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify([{ jsonrpc: '2.0', id: 7, error: { code: -32603, message: 'boom' } }, { jsonrpc: '2.0', id: 7, result: { content: [] } }]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ends.push(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as { port: number };
    const { url, stateDir } = await startServer({ args: ['--upstream', `http://127.0.0.1:${port}/mcp`], heartbeatMs: 300 });
    const batch = [
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'first', arguments: {} } },
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'second', arguments: {} } },
    ];
    const r = await fetch(url, { method: 'POST', headers: HEADERS, body: JSON.stringify(batch) });
    await r.text();
    expect(r.status).toBe(200);
    const snap = await waitSnap(stateDir, (s) => (s.operations ?? []).filter((o) => o.method === 'tools/call').length === 2, 'both calls recorded');
    const call = (name: string) => snap.operations!.find((o) => o.method === 'tools/call' && o.name === name);
    // The error answer: its name never answered with a result, so under _OTHER.
    expect(call('_OTHER')).toMatchObject({ count: 1, errors: 1 });
    expect(call('second')).toMatchObject({ count: 1, errors: 0 });
  });
});
