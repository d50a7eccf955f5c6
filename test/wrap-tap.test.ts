/**
 * wrap's tap on its own (a real OperationRecorder, bytes as they come in chunks), then a
 * modern-era client through a real wrapper: its identity from `params._meta`, and `end-session`
 * still ends its server (it has a process to end, unlike a modern HTTP client).
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
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
const MODERN_META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'modern-client', version: '9.0' } };

describe('WrapTap', () => {
  it('initialize gives the identity; requests split across chunks are timed to their responses', () => {
    const recorder = new OperationRecorder();
    const tap = new WrapTap(recorder);
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
  });

  it('a line past the cap is skipped, not held; what follows is read; non-JSON is ignored', () => {
    const tap = new WrapTap(new OperationRecorder(), 1024);
    tap.client(Buffer.from('x'.repeat(600)));
    tap.client(Buffer.from('y'.repeat(600)));
    tap.client(Buffer.from('z\nnot json\n'));
    tap.client(line({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    expect(tap.skippedLines).toBe(1);
    expect(tap).toMatchObject({ requestCount: 1, lastMethod: 'ping' });
  });

  it('batches count each message; at most MAX_PENDING requests are awaited', () => {
    const tap = new WrapTap(new OperationRecorder());
    tap.client(line([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', method: 'notifications/x' }, 7]));
    expect(tap.requestCount).toBe(2);
    for (let i = 0; i < MAX_PENDING + 50; i += 1) tap.client(line({ jsonrpc: '2.0', id: 100 + i, method: 'ping' }));
    expect(tap.pending).toBe(MAX_PENDING);
  });

  it('a modern request answered with a result makes the era modern, with the identity of its _meta', () => {
    const tap = new WrapTap(new OperationRecorder());
    tap.client(line({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: MODERN_META } }));
    expect(tap.era).toBe('legacy');
    tap.server(line({ jsonrpc: '2.0', id: 1, result: {} }));
    expect(tap).toMatchObject({ era: 'modern', clientInfo: { name: 'modern-client', version: '9.0' }, protocolVersion: '2026-07-28' });
    // One refused falls back to initialize: legacy it is.
    const fallback = new WrapTap(new OperationRecorder());
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
