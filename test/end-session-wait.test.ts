/**
 * `mcp-monitor end-session` against a writer that hangs (SIGSTOP) after the CLI judged it live:
 * the CLI waits its 5 s (a monotonic deadline), exits 4 and withdraws its request, so
 * that the writer, once it runs again, ends nothing. Real child, real files.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rawCall, rawSession } from './helpers/raw-mcp.js';
import { cleanup, run } from './helpers/processes.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';

afterEach(cleanup);

describe('end-session with a hung writer', () => {
  it('exits 4 after its wait, with the request withdrawn', async () => {
    // A long heartbeat: the paused writer's snapshot stays fresh, so the CLI finds it live.
    const { url, stateDir, proc } = await startServer({ heartbeatMs: 60_000 });
    const sid = await rawSession(url);
    await waitSnap(stateDir, (s) => s.connections.some((c) => c.sessionId === sid), 'the session listed');
    process.kill(proc.pid!, 'SIGSTOP');
    let r;
    try {
      r = await run(['end-session', sid, '--state-dir', stateDir]);
    } finally {
      process.kill(proc.pid!, 'SIGCONT');
    }
    expect(r.code).toBe(4);
    expect(r.stderr.trim()).toBe(`mcp-monitor end-session: session "${sid}" of server "default" was not ended within 5s (is its writer pid ${proc.pid} hung?); request withdrawn`);
    expect(await readdir(path.join(stateDir, 'default', 'control'))).toEqual([]);
    expect((await rawCall(url, sid, 'tools/list')).status).toBe(200);
    expect((await readSnap(stateDir)).connections.map((c) => c.sessionId)).toEqual([sid]);
  });
});
