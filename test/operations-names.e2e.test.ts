/**
 * Operation names as the real child records them (the snapshot's `operations`): a tool
 * name gets an entry of its own only once the server answered a call of it with a result;
 * invented names, even a batch of 120 refused with 400, count under `_OTHER` of their method; an
 * unknown method under method `_OTHER`; a carried-over `_other` is read as `_OTHER`. Built-in and
 * `--upstream` backends share the tap.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_OPERATIONS, type Operation } from '../shared/operations.js';
import type { Snapshot } from '../shared/snapshot.js';
import { startEverythingHttp, stopEverythingHttp } from './helpers/everything-http.js';
import { cleanup } from './helpers/processes.js';
import { rawCall, rawSession } from './helpers/raw-mcp.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';

afterEach(async () => {
  await stopEverythingHttp();
  await cleanup();
});

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function op(s: Snapshot, method: string, name: string | null = null): Operation | undefined {
  return s.operations?.find((o) => o.method === method && o.name === name);
}

/** A client polluting the table: one batch of 120 calls of invented tools; its HTTP status. */
async function inventedBatch(url: string, sid: string): Promise<number> {
  const batch = Array.from({ length: 120 }, (_, i) => ({ jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: `junk-${i}`, arguments: {} } }));
  const res = await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify(batch) });
  await res.text();
  return res.status;
}

/** Invented names the server answers with errors, then an invented method, then `real` with `args`. */
async function pollute(url: string, real: string, args: Record<string, unknown>): Promise<{ batch: number }> {
  const sid = await rawSession(url, 'polluter');
  const batch = await inventedBatch(url, sid);
  for (let i = 0; i < 5; i += 1) {
    const r = await rawCall(url, sid, 'tools/call', { name: `no-such-tool-${i}`, arguments: {} });
    // Answered, but not with a result: a JSON-RPC error or an isError result.
    expect(r.body.error !== undefined || r.body.result?.isError === true).toBe(true);
  }
  expect((await rawCall(url, sid, 'x/invented-method')).body.error).toBeDefined();
  const ok = await rawCall(url, sid, 'tools/call', { name: real, arguments: args });
  expect(ok.body.result?.isError).not.toBe(true);
  return { batch };
}

function expectClean(s: Snapshot, real: string): void {
  const names = s.operations!.filter((o) => o.method === 'tools/call').map((o) => o.name);
  expect(names.sort()).toEqual([real, '_OTHER'].sort());
  expect(op(s, 'tools/call', real)).toMatchObject({ count: 1, errors: 0 });
  // The 5 unknown tools, and the 120 of the batch if the backend counted them one by one.
  expect(op(s, 'tools/call', '_OTHER')!.count).toBeGreaterThanOrEqual(5);
  expect(op(s, '_OTHER')).toMatchObject({ name: null, count: 1 });
  expect(s.operations!.some((o) => o.method === 'x/invented-method' || o.name?.startsWith('junk-') || o.name?.startsWith('no-such-tool'))).toBe(false);
  expect(s.operations!.length).toBeLessThan(MAX_OPERATIONS);
}

describe('operation names the server does not know', () => {
  it('built-in: a refused batch of 120 invented names and unknown tools go to _OTHER; the real tool keeps its own entry', async () => {
    const { url, stateDir } = await startServer({ heartbeatMs: 300 });
    const { batch } = await pollute(url, 'connection_stats', {});
    expect(batch).toBe(400);
    const s = await waitSnap(stateDir, (x) => op(x, 'tools/call', 'connection_stats') !== undefined && op(x, '_OTHER') !== undefined, 'the real call counted');
    expectClean(s, 'connection_stats');
    // tools/list, a method of the specification, keeps its own entry even before any answer.
    await rawCall(url, await rawSession(url), 'tools/list');
    await waitSnap(stateDir, (x) => op(x, 'tools/list') !== undefined, 'tools/list counted');
  });

  it('--upstream: the same through the proxy tap', async () => {
    const upstream = await startEverythingHttp();
    const { url, stateDir } = await startServer({ args: ['--upstream', upstream.url], heartbeatMs: 300 });
    await pollute(url, 'echo', { message: 'hi' });
    const s = await waitSnap(stateDir, (x) => op(x, 'tools/call', 'echo') !== undefined && op(x, '_OTHER') !== undefined, 'the real call counted');
    expectClean(s, 'echo');
  });

  it('reads an entry named _other carried over from an older writer as _OTHER', async () => {
    const first = await startServer();
    const sid = await rawSession(first.url);
    await rawCall(first.url, sid, 'tools/call', { name: 'connection_stats', arguments: {} });
    await waitSnap(first.stateDir, (x) => op(x, 'tools/call', 'connection_stats') !== undefined, 'one call');
    await first.proc.stop();
    // An older writer's file: its overflow buckets were spelled `_other`.
    const file = path.join(first.stateDir, 'default', 'snapshot.json');
    const old = JSON.parse(await readFile(file, 'utf8')) as Snapshot;
    const real = op(old, 'tools/call', 'connection_stats')!;
    old.operations!.push({ ...real, name: '_other', count: 7, errors: 2 }, { ...real, method: '_other', name: null, count: 3, errors: 0 });
    for (const o of old.operations!.slice(-2)) o.durationSeconds = { sum: 0.01 * o.count, buckets: o.durationSeconds.buckets.map(() => o.count) };
    await writeFile(file, JSON.stringify(old));

    const second = await startServer({ stateDir: first.stateDir });
    const s2 = await rawSession(second.url);
    await rawCall(second.url, s2, 'tools/call', { name: 'invented', arguments: {} });
    await rawCall(second.url, s2, 'y/invented');
    const s = await waitSnap(second.stateDir, (x) => (op(x, 'tools/call', '_OTHER')?.count ?? 0) === 8 && (op(x, '_OTHER')?.count ?? 0) === 4, '_other read as _OTHER, and counted on');
    expect(op(s, 'tools/call', '_OTHER')).toMatchObject({ errors: 2 });
    expect(op(s, 'tools/call', 'connection_stats')).toMatchObject({ count: 1 });
    expect(s.operations!.some((o) => o.method === '_other' || o.name === '_other')).toBe(false);
    expect((await readSnap(second.stateDir)).operations!.length).toBe(s.operations!.length);
  });
});
