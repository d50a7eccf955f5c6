/**
 * wrap's tap on its own (told to real RequestObservers with an OperationRecorder, bytes as they
 * come in chunks), then a
 * modern-era client through a real wrapper: its identity from `params._meta`, and `end-session`
 * still ends its server (it has a process to end, unlike a modern HTTP client).
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestObservers, type FinishedRequest, type ToolsPage } from '../server/operations/finished-request.js';
import { OperationRecorder } from '../server/operations/operation-recorder.js';
import { MAX_PENDING, WrapTap } from '../server/backends/wrap/wrap-tap.js';
import { cleanup, makeStateDir, ROOT, run } from './helpers/processes.js';
import { waitSnap } from './helpers/server-process.js';
import { cleanupWraps, WrapProc } from './helpers/wrap-process.js';

afterEach(async () => {
  await cleanupWraps();
  await cleanup();
});

const line = (m: unknown) => Buffer.from(`${JSON.stringify(m)}\n`);
const SID = '7c1f0e56-0000-4000-8000-000000000001';
/** A tap telling a recorder, and what it told, as it was told. */
function tapped(maxLineBytes?: number) {
  const recorder = new OperationRecorder();
  const finished: FinishedRequest[] = [];
  const pages: ToolsPage[] = [];
  const requests = new RequestObservers().add(recorder).add({ finished: (r) => finished.push(r), toolsListed: (p) => pages.push(p) });
  return { tap: new WrapTap({ requests, sessionId: SID, maxLineBytes }), recorder, finished, pages };
}
const MODERN_META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'modern-client', version: '9.0' } };

describe('WrapTap', () => {
  it('initialize gives the identity; requests split across chunks are timed to their responses', () => {
    const { tap, recorder, finished } = tapped();
    const init = line({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', clientInfo: { name: 'c', version: '1' } } });
    tap.client(init.subarray(0, 10));
    expect(tap.requestCount).toBe(0);
    tap.client(init.subarray(10));
    expect(tap).toMatchObject({ clientInfo: { name: 'c', version: '1' }, protocolVersion: '2025-06-18', era: 'legacy', requestCount: 1, lastMethod: 'initialize' });
    tap.server(line({ jsonrpc: '2.0', id: 0, result: {} }));
    tap.client(Buffer.concat([line({ jsonrpc: '2.0', method: 'notifications/initialized' }), line({ jsonrpc: '2.0', id: '0', method: 'tools/call', params: { name: 'echo' } })]));
    // A response to the number 0 is not one to the string "0"; a server's own request is no response.
    tap.server(Buffer.concat([line({ jsonrpc: '2.0', id: 0, result: {} }), line({ jsonrpc: '2.0', id: '0', method: 'sampling/createMessage', params: {} })]));
    expect(tap.pending).toBe(1);
    tap.server(line({ jsonrpc: '2.0', id: '0', result: { isError: true, content: [{ type: 'text', text: 'boom' }] } }));
    expect(tap.pending).toBe(0);
    const ops = recorder.operations();
    expect(ops.find((o) => o.method === 'initialize')).toMatchObject({ count: 1, errors: 0 });
    expect(ops.find((o) => o.method === 'tools/call')).toMatchObject({ name: '_OTHER', count: 1, errors: 1 });
    expect(tap).toMatchObject({ requestCount: 3, lastMethod: 'tools/call' });
    expect(finished.map(({ sessionId, era, client, method, name, outcome, errorCode, answered }) => ({ sessionId, era, client, method, name, outcome, errorCode, answered }))).toEqual([
      { sessionId: SID, era: 'legacy', client: 'c', method: 'initialize', name: null, outcome: 'ok', errorCode: null, answered: true },
      { sessionId: SID, era: 'legacy', client: 'c', method: 'tools/call', name: 'echo', outcome: 'tool_error', errorCode: null, answered: false },
    ]);
    expect(finished[1]!.seconds).toBeGreaterThanOrEqual(0);
    expect(finished[1]!.endedAtMs).toBeGreaterThanOrEqual(finished[0]!.endedAtMs);
  });

  it('tells each tools/list result with its cursor, and the code of an error', () => {
    const { tap, finished, pages } = tapped();
    tap.client(line({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    tap.client(line({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { cursor: 'page-2' } }));
    tap.client(line({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: { cursor: 7 } }));
    tap.client(line({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'x', arguments: {} } }));
    tap.server(line({ jsonrpc: '2.0', id: 2, result: { tools: [{ name: 'b' }] } }));
    tap.server(line({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'a' }], nextCursor: 'page-2' } }));
    tap.server(line({ jsonrpc: '2.0', id: 3, error: { code: -32602, message: 'bad cursor' } }));
    tap.server(line({ jsonrpc: '2.0', id: 4, error: { code: -32603, message: 'boom' } }));
    expect(pages).toEqual([
      { sessionId: SID, cursor: 'page-2', result: { tools: [{ name: 'b' }] } },
      { sessionId: SID, cursor: undefined, result: { tools: [{ name: 'a' }], nextCursor: 'page-2' } },
    ]);
    expect(finished.map((r) => [r.method, r.outcome, r.errorCode])).toEqual([
      ['tools/list', 'ok', null],
      ['tools/list', 'ok', null],
      ['tools/list', 'rejected', -32602],
      ['tools/call', 'error', -32603],
    ]);
  });

  it('a line past the cap is skipped, not held; what follows is read; non-JSON is ignored', () => {
    const { tap } = tapped(1024);
    tap.client(Buffer.from('x'.repeat(600)));
    tap.client(Buffer.from('y'.repeat(600)));
    tap.client(Buffer.from('z\nnot json\n'));
    tap.client(line({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    expect(tap.skippedLines).toBe(1);
    expect(tap).toMatchObject({ requestCount: 1, lastMethod: 'ping' });
  });

  it('batches count each message; at most MAX_PENDING requests are awaited', () => {
    const { tap } = tapped();
    tap.client(line([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', method: 'notifications/x' }, 7]));
    expect(tap.requestCount).toBe(2);
    for (let i = 0; i < MAX_PENDING + 50; i += 1) tap.client(line({ jsonrpc: '2.0', id: 100 + i, method: 'ping' }));
    expect(tap.pending).toBe(MAX_PENDING);
  });

  it('a modern request answered with a result makes the era modern, with the identity of its _meta', () => {
    const { tap, finished } = tapped();
    tap.client(line({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: MODERN_META } }));
    expect(tap.era).toBe('legacy');
    tap.server(line({ jsonrpc: '2.0', id: 1, result: {} }));
    expect(tap).toMatchObject({ era: 'modern', clientInfo: { name: 'modern-client', version: '9.0' }, protocolVersion: '2026-07-28' });
    expect(finished[0]).toMatchObject({ era: 'modern', client: 'modern-client', method: 'server/discover', outcome: 'ok' });
    // One refused falls back to initialize: legacy it is.
    const { tap: fallback } = tapped();
    fallback.client(line({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: MODERN_META } }));
    fallback.server(line({ jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'Method not found' } }));
    fallback.client(line({ jsonrpc: '2.0', id: 2, method: 'initialize', params: { protocolVersion: '2025-11-25', clientInfo: { name: 'old', version: '1' } } }));
    fallback.server(line({ jsonrpc: '2.0', id: 2, result: {} }));
    expect(fallback).toMatchObject({ era: 'legacy', clientInfo: { name: 'old', version: '1' } });
  });
});

describe('a modern-era client through wrap', () => {
  it('is listed with its _meta identity, and end-session ends its server', async () => {
    const stateDir = await makeStateDir();
    const marks = path.join(stateDir, 'marks');
    const w = new WrapProc(['--state-dir', stateDir, '--server-id', 'modern', '--heartbeat-ms', '300', '--', process.execPath, path.join(ROOT, 'test', 'fixtures', 'wrap-eof.mjs'), marks]);
    w.child.stdin!.write(line({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: MODERN_META } }));
    const snap = await waitSnap(stateDir, (s) => s.connections[0]?.era === 'modern', 'the modern row', 'modern');
    expect(snap.connections[0]).toMatchObject({ clientInfo: { name: 'modern-client', version: '9.0' }, protocolVersion: '2026-07-28', transport: 'stdio' });
    expect((await run(['end-session', snap.connections[0]!.sessionId, '--server-id', 'modern', '--state-dir', stateDir])).code).toBe(0);
    expect((await w.exited).code).toBe(0);
    const after = await waitSnap(stateDir, (s) => s.status === 'stopped', 'stopped', 'modern');
    expect(after.sessionsClosed?.terminated).toBe(1);
  });
});
