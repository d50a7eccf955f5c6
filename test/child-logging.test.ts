/**
 * The MCP child's log never holds up its event loop: a parent that stops reading the child's
 * stderr pipe (a busy or stalled API) must not stall the MCP server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, makeStateDir, cleanup } from './helpers/processes.js';
import { rawCall, rawSession } from './helpers/raw-mcp.js';
import { readSnap, waitSnap } from './helpers/server-process.js';

const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(async (c) => {
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await exited;
      }
    }),
  );
  await cleanup();
});

/** `p`, or a rejection naming `what` when it has not settled by the deadline. */
function before<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

describe('the child logger', () => {
  it('keeps answering MCP requests while its stderr pipe is full and never read', async () => {
    const stateDir = await makeStateDir();
    const child = spawn(process.execPath, [BIN, 'server', '--mcp-port', '0', '--heartbeat-ms', '1000', '--state-dir', stateDir], {
      cwd: ROOT,
      env: { ...process.env, MCP_MONITOR_LOG_LEVEL: 'debug' },
      // stderr is a pipe that this test never reads: once its buffer (64 KiB) is full, it stays full.
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    child.stderr!.pause();
    const snap = await waitSnap(stateDir, (s) => s.status === 'running' && s.pid === child.pid, 'the child running');
    const url = snap.mcp!.url;
    // Each session logs a debug line carrying its User-Agent: 300 of them are several times the pipe.
    const userAgent = `logger-test/${'x'.repeat(400)}`;
    for (let i = 0; i < 300; i += 1) {
      await before(rawSession(url, `c${i}`, { 'user-agent': userAgent }), 10_000, `session ${i}`);
    }
    const sid = await before(rawSession(url, 'last', { 'user-agent': userAgent }), 10_000, 'the last session');
    const res = await before(rawCall(url, sid, 'tools/call', { name: 'echo', arguments: { text: 'still answering' } }), 10_000, 'a tool call');
    expect(res.status).toBe(200);
    expect(res.body.result.content[0].text).toBe('still answering');
    expect(child.exitCode).toBe(null);
    // Shutdown does not wait for the pipe either.
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await before(exited, 15_000, 'the child to exit on SIGTERM')).toBe(0);
    expect((await readSnap(stateDir)).status).toBe('stopped');
  });
});
