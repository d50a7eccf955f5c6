/**
 * `--command` limits: a refused initialize starts no process, the processes never outnumber
 * `--max-sessions`, and a `--config` server's process gets only the allow-listed environment
 * plus its own `env`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, isAlive, makeStateDir, Proc, ROOT, run } from './helpers/processes.js';
import { INITIALIZE } from './helpers/raw-mcp.js';
import { readSnap, startServer } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await cleanup();
});

const RECORD = path.join(ROOT, 'test', 'fixtures', 'stdio-record.mjs');

async function starts(file: string): Promise<{ pid: number; env: Record<string, string> }[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l));
}

function initialize(url: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(INITIALIZE('limits')) });
}

describe('--command limits', () => {
  it('starts no process for 10 refused initializes, and never more processes than --max-sessions', async () => {
    const stateDir = await makeStateDir();
    const log = path.join(stateDir, 'spawned.log');
    const { url, proc } = await startServer({ stateDir, args: ['--max-sessions', '2', '--command', `${process.execPath} ${RECORD} ${log}`] });
    const bad = await Promise.all(Array.from({ length: 10 }, () => initialize(url, {})));
    expect(bad.map((r) => r.status)).toEqual(Array(10).fill(406));
    // The child logs each spawn (a process killed at once may never reach its own first line).
    expect(proc.stderr.filter((l) => l.includes('stdio server started'))).toEqual([]);
    expect(await starts(log)).toEqual([]);

    const ok = await Promise.all(Array.from({ length: 6 }, () => initialize(url, { accept: 'application/json, text/event-stream' })));
    await Promise.all(ok.map((r) => r.text()));
    expect(ok.filter((r) => r.status === 200)).toHaveLength(2);
    expect(ok.filter((r) => r.status === 503)).toHaveLength(4);
    const pids = (await starts(log)).map((s) => s.pid);
    expect(pids).toHaveLength(2);
    expect(pids.every(isAlive)).toBe(true);
  });

  it('defaults --max-sessions to 32 with --command', async () => {
    const stateDir = await makeStateDir();
    const log = path.join(stateDir, 'spawned.log');
    const { url } = await startServer({ stateDir, args: ['--command', `${process.execPath} ${RECORD} ${log}`] });
    const ok = await Promise.all(Array.from({ length: 34 }, () => initialize(url, { accept: 'application/json, text/event-stream' })));
    await Promise.all(ok.map((r) => r.text()));
    expect(ok.filter((r) => r.status === 503)).toHaveLength(2);
  });
});

describe('--command environment', () => {
  it('passes only the allow-list plus MCP_MONITOR_COMMAND_ENV when it is set, and the shell minus MCP_MONITOR_* when not', async () => {
    const stateDir = await makeStateDir();
    const log = path.join(stateDir, 'spawned.log');
    const common = ['server', '--mcp-port', '0', '--state-dir', stateDir, '--command', `${process.execPath} ${RECORD} ${log}`];
    const env = { AWS_SECRET_ACCESS_KEY: 'secret', MCP_MONITOR_TOKEN: 'tok' };
    const withEnv = new Proc([...common, '--server-id', 'a'], { env: { ...env, MCP_MONITOR_COMMAND_ENV: JSON.stringify({ MY_KEY: 'v' }) } });
    const plain = new Proc([...common, '--server-id', 'b'], { env });
    for (const [id, proc] of [['a', withEnv], ['b', plain]] as const) {
      const snap = await waitFor(async () => {
        const s = await readSnap(stateDir, id).catch(() => undefined);
        return s?.status === 'running' && s.pid === proc.pid ? s : undefined;
      }, { timeout: 20_000, what: `server ${id} running` });
      const r = await initialize(snap.mcp!.url, { accept: 'application/json, text/event-stream' });
      await r.text();
      expect(r.status).toBe(200);
    }
    const recorded = await waitFor(async () => ((await starts(log)).length === 2 ? starts(log) : undefined), { what: 'two processes started' });
    const environ = async (pid: number) => Object.fromEntries((await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const [a, b] = await Promise.all(recorded.map((s) => environ(s.pid)));
    const [allowListed, shell] = a!.MY_KEY ? [a!, b!] : [b!, a!];
    expect(allowListed.MY_KEY).toBe('v');
    expect(allowListed.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(Object.keys(allowListed).every((k) => ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER', 'MY_KEY'].includes(k))).toBe(true);
    expect(shell.AWS_SECRET_ACCESS_KEY).toBe('secret');
    expect(Object.keys(shell).filter((k) => k.startsWith('MCP_MONITOR_'))).toEqual([]);
  });

  it('refuses a malformed MCP_MONITOR_COMMAND_ENV at start with one line, exit 2', async () => {
    const stateDir = await makeStateDir();
    const r = await run(['server', '--mcp-port', '0', '--state-dir', stateDir, '--command', `${process.execPath} ${RECORD} x`], { env: { MCP_MONITOR_COMMAND_ENV: '[1' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid MCP_MONITOR_COMMAND_ENV');
  });
});
