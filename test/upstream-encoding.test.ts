/**
 * The proxy reads what it records, so it asks the upstream for answers it can read: a client's
 * `Accept-Encoding: gzip` (Node's fetch sends it by default) must not blind the recording of a
 * compressed upstream's errors.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from './helpers/processes.js';
import { INITIALIZE } from './helpers/raw-mcp.js';
import { readSnap, startServer } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const stop: (() => void)[] = [];
afterEach(async () => {
  for (const f of stop.splice(0)) f();
  await cleanup();
});

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'accept-encoding': 'gzip, deflate' };

describe('--upstream and compressed answers', () => {
  it('counts the tool errors of an upstream that gzips whenever it may', async () => {
    const up = spawn(process.execPath, [path.join(import.meta.dirname, 'fixtures', 'gzip-upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    stop.push(() => up.kill('SIGKILL'));
    let out = '';
    up.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const port = await waitFor(() => /UP (\d+)/.exec(out)?.[1], { what: 'the gzip upstream' });
    const child = await startServer({ args: ['--upstream', `http://127.0.0.1:${port}/mcp`] });
    const init = await fetch(child.url, { method: 'POST', headers: HEADERS, body: JSON.stringify(INITIALIZE('gz-client')) });
    await init.text();
    const sid = init.headers.get('mcp-session-id')!;
    for (let id = 2; id <= 4; id++) {
      const r = await fetch(child.url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'fails', arguments: {} } }) });
      expect(((await r.json()) as { result: { isError?: boolean } }).result.isError).toBe(true);
    }
    const op = await waitFor(async () => (await readSnap(child.stateDir)).operations?.find((o) => o.method === 'tools/call' && o.count === 3), { what: 'three tools/call recorded' });
    expect(op.errors).toBe(3);
  });
});
