/**
 * Operations (the snapshot's `operations`, `sessionDurations`) as the real child records them:
 * counts, errors and buckets match the calls made by real clients of both eras, a caller's
 * fault is not an error, and the counts survive a restart.
 */
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LEGACY_OPERATION_BOUNDS, OPERATION_BOUNDS, type Operation } from '../shared/operations.js';
import { serializeSnapshot, validateSnapshot, type Snapshot } from '../shared/snapshot.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { cleanup } from './helpers/processes.js';
import { rawSession } from './helpers/raw-mcp.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';

const ENTRY_V2 = fileURLToPath(new URL('./fixtures/entry-server-v2.mjs', import.meta.url));

afterEach(async () => {
  await closeV2Clients();
  await closeClients();
  await cleanup();
});

/** The entry of a method and name of successes (errorType null), or of `errorType`. */
function op(s: Snapshot, method: string, name: string | null = null, errorType: string | null = null): Operation | undefined {
  return s.operations?.find((o) => o.method === method && o.name === name && (o.errorType ?? null) === errorType);
}

/** Buckets are cumulative, within the count. */
function wellFormed(o: Operation): void {
  const b = o.durationSeconds.buckets;
  expect(b).toHaveLength(OPERATION_BOUNDS.length);
  for (let i = 1; i < b.length; i += 1) expect(b[i]!).toBeGreaterThanOrEqual(b[i - 1]!);
  expect(b.at(-1)!).toBeLessThanOrEqual(o.count);
}

describe('operations', () => {
  it('count calls, errors and durations of both eras; isError is an error, bad params are not', async () => {
    const { url, stateDir } = await startServer({ args: ['--entry', ENTRY_V2] });
    const modern = await connectV2(url, { name: 'ops-modern' });
    const legacy = await connectClient(url, { name: 'ops-legacy' });
    for (const c of [modern.client, legacy.client] as const) {
      await c.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
      await c.callTool({ name: 'add', arguments: { a: 3, b: 4 } });
      const failed = await c.callTool({ name: 'fail', arguments: {} });
      expect(failed.isError).toBe(true);
      const bad = await c.callTool({ name: 'add', arguments: { a: 'x', b: 2 } });
      expect(bad.isError).toBe(true); // "Input validation error": the caller's fault
      await c.callTool({ name: 'wait', arguments: { ms: 300 } });
    }
    const s = await waitSnap(stateDir, (x) => (op(x, 'tools/call', 'wait')?.count ?? 0) === 2, 'both waits counted');
    const add = op(s, 'tools/call', 'add')!;
    expect(add).toMatchObject({ count: 6, errors: 0 });
    // `fail` never answered with a result: while no catalog is known, it counts under _OTHER.
    expect(op(s, 'tools/call', 'fail')).toBeUndefined();
    // An isError result is the conventions' `tool_error`; the caller's faults are no error type.
    expect(op(s, 'tools/call', '_OTHER')).toBeUndefined();
    expect(op(s, 'tools/call', '_OTHER', 'tool_error')).toMatchObject({ count: 2, errors: 2 });
    expect(s.operations!.filter((o) => o.errorType !== null).map((o) => [o.name, o.errorType])).toEqual([['_OTHER', 'tool_error']]);
    expect(s.operationBounds).toEqual(OPERATION_BOUNDS);
    const wait = op(s, 'tools/call', 'wait')!;
    expect(wait.errors).toBe(0);
    // Each wait took at least 300 ms: neither is in a bucket of 0.2 s or less.
    expect(wait.durationSeconds.buckets[OPERATION_BOUNDS.indexOf(0.2)]).toBe(0);
    expect(wait.durationSeconds.sum).toBeGreaterThanOrEqual(0.6);
    // The v1 client's initialize, the v2 client's discovery probe: one each.
    expect(op(s, 'initialize')).toMatchObject({ count: 1, errors: 0 });
    expect(op(s, 'server/discover')).toMatchObject({ count: 1, errors: 0 });
    // Notifications (notifications/initialized) are activity, not operations.
    expect(s.operations!.some((o) => o.method.startsWith('notifications/'))).toBe(false);
    for (const o of s.operations!) wellFormed(o);
  });

  it('count answers no server sent: our 404 and the modern ladder\'s rejections, as the caller\'s faults', async () => {
    const { url, stateDir } = await startServer();
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const unknown = await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-session-id': 'no-such-session' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
    expect(unknown.status).toBe(404);
    // Modern headers, but no clientInfo in _meta: the SDK's ladder refuses it (400).
    const noMeta = await fetch(url, { method: 'POST', headers: { ...headers, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' }, body: '{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}' });
    expect(noMeta.status).toBe(400);
    const s = await waitSnap(stateDir, (x) => op(x, 'tools/list') !== undefined && op(x, '_OTHER') !== undefined, 'both counted');
    expect(op(s, '_OTHER')).toMatchObject({ count: 1, errors: 0 });
    expect(op(s, 'tools/list')).toMatchObject({ count: 1, errors: 0 });
    expect(s.activeConnections).toBe(0);
  });

  it('sessionDurations counts ended connections, and operations survive a restart', async () => {
    const first = await startServer();
    const c = await connectClient(first.url, { name: 'short-lived' });
    await c.client.callTool({ name: 'echo', arguments: { text: 'x' } });
    await c.terminate();
    await rawSession(first.url, 'raw');
    const s1 = await waitSnap(first.stateDir, (x) => x.sessionDurations?.count === 1 && (op(x, 'tools/call', 'echo')?.count ?? 0) === 1, 'one ended session, one echo');
    expect(s1.sessionDurations!.buckets.at(-1)).toBe(1);
    await first.proc.stop();
    const stopped = await readSnap(first.stateDir);
    expect(stopped.status).toBe('stopped');
    // The raw session ended at shutdown: two ended connections.
    expect(stopped.sessionDurations!.count).toBe(2);

    // As a writer from before `operationBounds` would have left it: every count in the old
    // (0.01, 0.025] bucket. The next writer re-counts them under 0.05, the smallest new bound
    // not below 0.025 (docs/state-directory.md, the snapshot schema), and writes the new bounds.
    const { operationBounds: _, ...older } = stopped;
    older.operations = stopped.operations!.map((o) => ({ ...o, durationSeconds: { sum: o.durationSeconds.sum, buckets: LEGACY_OPERATION_BOUNDS.map((b) => (b >= 0.025 ? o.count : 0)) } }));
    const file = path.join(first.stateDir, 'default', 'snapshot.json');
    await writeFile(`${file}.older`, serializeSnapshot(validateSnapshot(older)), { mode: 0o600 });
    await rename(`${file}.older`, file);
    const second = await startServer({ stateDir: first.stateDir });
    expect(second.snap.operationBounds).toEqual(OPERATION_BOUNDS);
    const echo = op(stopped, 'tools/call', 'echo')!;
    expect(op(second.snap, 'tools/call', 'echo')).toEqual({ ...echo, durationSeconds: { sum: echo.durationSeconds.sum, buckets: OPERATION_BOUNDS.map((b) => (b >= 0.05 ? 1 : 0)) } });
    expect(op(second.snap, 'initialize')!.count).toBe(2);
    expect(second.snap.sessionDurations).toEqual(stopped.sessionDurations);
    const m = await connectV2(second.url, { name: 'after-restart' });
    await m.client.callTool({ name: 'echo', arguments: { text: 'y' } });
    const s2 = await waitSnap(second.stateDir, (x) => op(x, 'tools/call', 'echo')?.count === 2, 'the echo after the restart added');
    expect(op(s2, 'tools/call', 'echo')!.errors).toBe(0);
  });
});
