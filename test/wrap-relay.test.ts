/**
 * The relay of `mcp-monitor wrap` with real processes: what passes is byte for byte what was
 * sent (non-JSON, a 5 MB line, a last line without newline), backpressure holds the wrapper's
 * memory when its reader is slow, and it ends as a shell would (CMD's status, 127/126 when CMD
 * cannot run, EOF passed on then SIGTERM then SIGKILL, signals passed on).
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, makeStateDir, ROOT } from './helpers/processes.js';
import { readSnap, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';
import { cleanupWraps, cmdGroups, WrapProc } from './helpers/wrap-process.js';

afterEach(async () => {
  await cleanupWraps();
  await cleanup();
});

const EOF_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'wrap-eof.mjs');

async function wrap(cmd: string[], options: { serverId?: string; keep?: boolean } = {}): Promise<{ w: WrapProc; stateDir: string }> {
  const stateDir = await makeStateDir();
  const w = new WrapProc(['--state-dir', stateDir, '--server-id', options.serverId ?? 'relay', '--heartbeat-ms', '500', '--', ...cmd], { keep: options.keep });
  return { w, stateDir };
}

describe('wrap relays bytes unchanged', () => {
  it('a 5 MB line, non-JSON lines and a last line without newline pass as they are; the tap skips the long line and reads the rest', async () => {
    // CMD writes a line that is not JSON first, then echoes the client.
    const { w, stateDir } = await wrap(['sh', '-c', 'printf "not json at all\\n"; exec cat']);
    await waitSnap(stateDir, (s) => s.status === 'running', 'running', 'relay');
    const big = `{"jsonrpc":"2.0","id":0,"method":"x","params":{"p":"${'a'.repeat(5 * 1024 * 1024)}"}}\n`;
    const after = '{"jsonrpc":"2.0","id":1,"method":"ping"}\n';
    const garbage = 'garbage \u0000\u00ff line\n';
    const tail = '{"partial":';
    const sent = Buffer.concat([Buffer.from(big), Buffer.from(after), Buffer.from(garbage, 'latin1'), Buffer.from(tail)]);
    w.child.stdin!.write(sent);
    await waitFor(() => w.outBytes >= sent.length + 16, { timeout: 15_000, what: 'everything echoed' });
    expect(w.stdout().equals(Buffer.concat([Buffer.from('not json at all\n'), sent]))).toBe(true);
    // The 5 MB line was not read (over 1 MiB); the ping after it was.
    const snap = await waitSnap(stateDir, (s) => s.connections[0]?.lastMethod === 'ping', 'the ping seen', 'relay');
    expect(snap.connections[0]!.requestCount).toBe(1);
    w.child.stdin!.end();
    expect(await w.exited).toEqual({ code: 0, signal: null });
    expect(w.stdout().equals(Buffer.concat([Buffer.from('not json at all\n'), sent]))).toBe(true);
    expect(w.stderr).toBe('');
  });

  it('200 MB to a slow reader: backpressure keeps the wrapper\'s memory bounded, and every byte arrives', async () => {
    const total = 200 * 1024 * 1024;
    const { w } = await wrap(['head', '-c', String(total), '/dev/zero'], { keep: false });
    let peak = 0;
    const sample = setInterval(() => {
      const m = w.memory();
      if (m) peak = Math.max(peak, m.peak, m.rss);
    }, 50);
    // Read in bursts of 8 MiB with a pause of 150 ms between: a relay without backpressure
    // would buffer what head writes meanwhile (hundreds of MB/s) in the wrapper.
    const out = w.child.stdout!;
    let sinceStop = 0;
    out.on('data', (d: Buffer) => {
      sinceStop += d.length;
      if (sinceStop >= 8 * 1024 * 1024) {
        sinceStop = 0;
        out.pause();
        setTimeout(() => out.resume(), 150);
      }
    });
    const exit = await w.exited;
    clearInterval(sample);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(w.outBytes).toBe(total);
    expect(peak).toBeGreaterThan(0);
    // A Node process at rest holds ~50-70 MB; 200 MB buffered would show far above this.
    expect(peak).toBeLessThan(140 * 1024 * 1024);
  }, 120_000);
});

describe('wrap ends as a shell would', () => {
  it('a CMD that does not exist: 127 and one stderr line, nothing on stdout', async () => {
    const { w } = await wrap(['no-such-command-xyz', '--flag']);
    expect(await w.exited).toEqual({ code: 127, signal: null });
    expect(w.stderr).toBe('mcp-monitor wrap: no-such-command-xyz: command not found\n');
    expect(w.outBytes).toBe(0);
  });

  it('a CMD that is not executable: 126 and one stderr line', async () => {
    const dir = await makeStateDir();
    const file = path.join(dir, 'not-exec.sh');
    await writeFile(file, '#!/bin/sh\necho hi\n');
    await chmod(file, 0o644);
    const { w } = await wrap([file]);
    expect(await w.exited).toEqual({ code: 126, signal: null });
    expect(w.stderr).toBe(`mcp-monitor wrap: ${file}: permission denied\n`);
  });

  it("CMD's exit status is the wrapper's; a signal that ended CMD is 128 + its number", async () => {
    const seven = await wrap(['sh', '-c', 'exit 7']);
    expect(await seven.w.exited).toEqual({ code: 7, signal: null });
    const killed = await wrap(['sh', '-c', 'kill -KILL $$']);
    expect(await killed.w.exited).toEqual({ code: 137, signal: null });
  });

  it('the client closes stdin: CMD gets EOF, exits, the wrapper exits 0 and the connection left with reason close', async () => {
    const marks = path.join(await makeStateDir(), 'marks');
    const { w, stateDir } = await wrap([process.execPath, EOF_FIXTURE, marks]);
    await waitSnap(stateDir, (s) => s.activeConnections === 1, 'the connection listed', 'relay');
    w.child.stdin!.end();
    expect(await w.exited).toEqual({ code: 0, signal: null });
    expect(await readFile(marks, 'utf8')).toBe('eof\n');
    const snap = await readSnap(stateDir, 'relay');
    expect(snap.status).toBe('stopped');
    expect(snap.sessionsClosed?.close).toBe(1);
  });

  it('a CMD deaf to EOF and SIGTERM: SIGTERM 5 s after the EOF, SIGKILL 5 s after that; exit 137', async () => {
    const marks = path.join(await makeStateDir(), 'marks');
    const { w, stateDir } = await wrap([process.execPath, EOF_FIXTURE, marks, 'stay']);
    const snap = await waitSnap(stateDir, (s) => s.activeConnections === 1, 'listed', 'relay');
    cmdGroups.add(snap.connections[0]!.process!.pid);
    const t0 = performance.now();
    w.child.stdin!.end();
    await waitFor(async () => (await readFile(marks, 'utf8').catch(() => '')).includes('term'), { timeout: 8000, what: 'SIGTERM reached CMD' });
    expect(performance.now() - t0).toBeGreaterThan(4500);
    expect(await w.exited).toEqual({ code: 137, signal: null });
    expect(await readFile(marks, 'utf8')).toBe('eof\nterm\n');
  }, 30_000);

  it('SIGTERM to the wrapper is passed to CMD: the wrapper exits 143, reason shutdown', async () => {
    const { w, stateDir } = await wrap(['sleep', '30']);
    await waitSnap(stateDir, (s) => s.activeConnections === 1, 'listed', 'relay');
    w.child.kill('SIGTERM');
    expect(await w.exited).toEqual({ code: 143, signal: null });
    const snap = await readSnap(stateDir, 'relay');
    expect(snap.status).toBe('stopped');
    expect(snap.sessionsClosed?.shutdown).toBe(1);
    expect(w.outBytes).toBe(0);
  });

  it('no command, or a bad option: exit 2 with one line, CMD never started', async () => {
    const none = new WrapProc(['--server-id', 'x']);
    expect(await none.exited).toEqual({ code: 2, signal: null });
    expect(none.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(none.stderr).toMatch(/^mcp-monitor wrap: no command to run/);
    const bad = new WrapProc(['--server-id', 'bad id!', '--', 'cat']);
    expect(await bad.exited).toEqual({ code: 2, signal: null });
    expect(bad.stderr).toMatch(/^mcp-monitor wrap: Invalid --server-id/);
  });
});
