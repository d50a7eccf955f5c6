/**
 * The MCP Inspector's CLI (`@modelcontextprotocol/inspector-cli`) launching
 * `mcp-monitor wrap -- node <server-everything> stdio` as its stdio server: it gets what it gets
 * from the server launched directly, and its connection is published (its own clientInfo, reason
 * `close` when it exits).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, cleanup, makeStateDir, ROOT } from './helpers/processes.js';
import { waitSnap } from './helpers/server-process.js';

const INSPECTOR = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'inspector-cli', 'build', 'index.js');
const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

afterEach(cleanup);

/** Runs the Inspector CLI on the stdio server `server` (command and arguments): its exit code and stdout. */
function inspector(args: string[], server: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Its target goes before its `--` (commander wants one word there), the rest after, where our
  // own `--` is left alone. Its cwd: inspector-cli 1.0.3 looks for `../package.json` relative to
  // the current directory to name itself (build/index.js, callMethod), so it runs from bin/.
  const [command, ...rest] = server;
  const child = spawn(process.execPath, [INSPECTOR, command!, ...args, '--', ...rest], { cwd: path.join(ROOT, 'bin'), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => child.once('exit', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr }))));
}

describe.skipIf(!existsSync(INSPECTOR))('the MCP Inspector CLI through wrap', () => {
  it('tools/list and tools/call as without the wrapper; its connection published', async () => {
    const stateDir = await makeStateDir();
    const wrapped = [process.execPath, BIN, 'wrap', '--state-dir', stateDir, '--', process.execPath, EVERYTHING, 'stdio'];
    const direct = [process.execPath, EVERYTHING, 'stdio'];
    const list = ['--method', 'tools/list'];
    const [viaWrap, viaDirect] = [await inspector(list, wrapped), await inspector(list, direct)];
    expect(viaWrap.code).toBe(0);
    expect(JSON.parse(viaWrap.stdout)).toEqual(JSON.parse(viaDirect.stdout));
    const call = await inspector(['--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'message=through wrap'], wrapped);
    expect(call.code).toBe(0);
    expect(JSON.parse(call.stdout)).toEqual({ content: [{ type: 'text', text: 'Echo: through wrap' }] });

    // The Inspector may exit before its wrapper has written its last snapshot.
    await waitSnap(stateDir, (x) => x.status === 'stopped' && x.totalConnections === 2, 'the second wrapper stopped', 'server-everything');
    const journal = readFileSync(path.join(stateDir, 'server-everything', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const connects = journal.filter((l) => l.event === 'connect');
    expect(connects).toHaveLength(2);
    expect(connects[0]).toMatchObject({ transport: 'stdio', clientIP: null, clientInfo: { name: 'inspector-cli' }, era: 'legacy' });
    expect(journal.filter((l) => l.event === 'disconnect').map((l) => l.reason)).toEqual(['close', 'close']);
    const snap = JSON.parse(readFileSync(path.join(stateDir, 'server-everything', 'snapshot.json'), 'utf8'));
    expect(snap.status).toBe('stopped');
    expect(snap.operations.find((o: { method: string; name: string | null }) => o.method === 'tools/call' && o.name === 'echo')?.count).toBe(1);
  }, 60_000);
});
