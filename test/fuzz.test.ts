/**
 * Fuzz: a few hundred random and mutated requests per kind of child (built-in server, `--upstream`
 * in front of server-everything, `--command` in front of server-memory over stdio). Whatever comes
 * in, the child must stay the same process, answer a real SDK client afterwards, and answer no 5xx.
 * The seed is printed on failure; FUZZ_SEED=<n> replays it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEverythingHttp, stopEverythingHttp } from './helpers/everything-http.js';
import { DEEP_BODY, FuzzGenerator, send, type SessionPool } from './helpers/fuzz-requests.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, isAlive, makeStateDir, ROOT } from './helpers/processes.js';
import { rawSession } from './helpers/raw-mcp.js';
import { readSnap, startServer } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const running: Array<() => void> = [];
afterEach(async () => {
  await closeClients();
  await cleanup();
  await stopEverythingHttp();
  for (const stop of running.splice(0)) stop();
});

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const REQUESTS = 1000;
const CONCURRENCY = 8;
const NODE = process.execPath;
const MEMORY = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
const MODERN_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list', 'user-agent': 'fuzz-ua' };
const MODERN_META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'fuzz-modern', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };

/** A modern (sessionless) request, so that the child lists an `m-` id the fuzz can reuse. */
async function modernCall(url: string): Promise<number> {
  const r = await fetch(url, { method: 'POST', headers: MODERN_HEADERS, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } }) });
  await r.text();
  return r.status;
}

/** Fuzzes the child at `url`; returns the 5xx answers and the failed connections, with their inputs. */
async function fuzz(url: string, stateDir: string, seed: number): Promise<{ statuses: Record<number, number>; bad: string[] }> {
  // A stateless upstream issues no session ids: then the pool has none.
  const valid = [await rawSession(url, 'fuzz-a'), await rawSession(url, 'fuzz-b')].filter((s): s is string => typeof s === 'string');
  const pool: SessionPool = { valid, modern: [] };
  await modernCall(url).catch(() => 0);
  const snap = await readSnap(stateDir);
  pool.modern.push(...snap.connections.map((c) => c.sessionId).filter((s) => s.startsWith('m-')));
  const gen = new FuzzGenerator(seed, pool);
  const statuses: Record<number, number> = {};
  const bad: string[] = [];
  let left = REQUESTS;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (left-- > 0) {
      const req = gen.next();
      const status = await send(url, req);
      statuses[status] = (statuses[status] ?? 0) + 1;
      // A body past the child's budget (64 KiB until it knows the session or the modern version,
      // 4 MiB after) may be cut off with the connection after its 413, unread: not a failure. A
      // dead or replaced child is caught below by its pid.
      const cutOff = status === 0 && (req.body?.length ?? 0) > 64 * 1024;
      if (status >= 500 || (status <= 0 && !cutOff)) bad.push(`${status} ${req.label}`);
    }
  }));
  return { statuses, bad };
}

/** The fuzz, then the checks that the child survived it unchanged and still serves a real client. */
async function fuzzAndCheck(child: { url: string; stateDir: string; proc: { pid: number; alive: boolean; stderr: string[] } }, seed: number, minTools = 1): Promise<void> {
  const before = (await readSnap(child.stateDir)).pid;
  const { statuses, bad } = await fuzz(child.url, child.stateDir, seed);
  // What each child answered, for whoever reads the run: the assertions below are the test.
  console.log(`fuzz seed ${seed}: ${JSON.stringify(statuses)}`);
  const why = `seed ${seed} (FUZZ_SEED=${seed} replays it); statuses ${JSON.stringify(statuses)}; stderr: ${child.proc.stderr.filter((l) => /Error|at /.test(l)).slice(0, 8).join(' | ')}`;
  expect(child.proc.alive, `child died: ${why}`).toBe(true);
  expect(isAlive(before), why).toBe(true);
  expect((await readSnap(child.stateDir)).pid, why).toBe(before);
  expect(bad, why).toEqual([]);
  const client = await connectClient(child.url, { name: 'after-fuzz' });
  const tools = await client.client.listTools();
  expect(tools.tools.length, why).toBeGreaterThanOrEqual(minTools);
}

describe('fuzz', () => {
  it('the built-in server survives random and mutated requests', async () => {
    const child = await startServer();
    await fuzzAndCheck(child, SEED);
  }, 90_000);

  it('an --upstream child in front of server-everything survives them', async () => {
    const upstream = await startEverythingHttp();
    const child = await startServer({ args: ['--upstream', upstream.url] });
    await fuzzAndCheck(child, SEED + 1);
  }, 90_000);

  it('a --command child in front of server-memory (stdio) survives them', async () => {
    const dir = await makeStateDir();
    process.env.MEMORY_FILE_PATH = path.join(dir, 'memory.jsonl');
    try {
      const child = await startServer({ args: ['--command', `${NODE} ${MEMORY}`] });
      await fuzzAndCheck(child, SEED + 2);
    } finally {
      delete process.env.MEMORY_FILE_PATH;
    }
  }, 90_000);

  // Valid JSON nested 20 000 deep overflowed the stack of the SDK's checks: 500 "Internal server
  // error". Anything deeper than 1000 levels now gets 400 before it reaches the SDK.
  it('the built-in server answers 400 to JSON nested 20 000 deep', async () => {
    const child = await startServer();
    const status = await send(child.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: DEEP_BODY, chunked: false, label: 'deep' });
    expect(status).toBe(400);
    expect(child.proc.alive).toBe(true);
  });

  // An --upstream child must not list an id beginning `m-` (the names of modern clients, which
  // anyone can compute) as a legacy session, nor throw on a duplicate id in the session registry:
  // that ended the child before server/backends/upstream/session-id.ts. A stateless upstream (test/fixtures/stateless-upstream.mjs) answers 2xx to any id.
  it('an --upstream child in front of a stateless upstream survives a session id equal to a listed modern id', async () => {
    const up = spawn(NODE, [path.join(ROOT, 'test', 'fixtures', 'stateless-upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    running.push(() => up.kill('SIGKILL'));
    let out = '';
    up.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const port = await waitFor(() => /UP (\d+)/.exec(out)?.[1], { what: 'the stateless upstream' });
    const child = await startServer({ args: ['--upstream', `http://127.0.0.1:${port}/mcp`] });
    expect(await modernCall(child.url)).toBe(200);
    const modern = await waitFor(async () => (await readSnap(child.stateDir)).connections.find((c) => c.sessionId.startsWith('m-'))?.sessionId, { what: 'a listed modern id' });
    const r = await fetch(child.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': modern, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) }).then((x) => x.status, () => 0);
    // Then the other order: an adopted id first, then the modern client it collides with.
    await modernCall(child.url).catch(() => 0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(child.proc.alive, `POST with Mcp-Session-Id ${modern} (a listed modern id) gave ${r}; stderr: ${child.proc.stderr.filter((l) => /Error/.test(l)).slice(0, 3).join(' | ')}`).toBe(true);
    expect(r).toBeLessThan(500);
    // The stateless fixture answers every request with an empty result: no tools to list.
    await fuzzAndCheck(child, SEED + 3, 0);
  }, 90_000);
});
