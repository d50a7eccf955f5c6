/**
 * Real processes for tests: `mcp-monitor start` and `mcp-monitor server` spawned from the built
 * bin, with a fresh state directory each, tracked so that `cleanup()` leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'mcp-monitor.js');

const procs = new Set<Proc>();
const dirs = new Set<string>();

export interface LogLine {
  level?: number;
  msg?: string;
  [k: string]: unknown;
}

export class Proc {
  readonly child: ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode: number | null | undefined;

  constructor(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, MCP_MONITOR_LOG_LEVEL: 'debug', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.add(this);
    for (const [stream, lines] of [[this.child.stdout!, this.stdout], [this.child.stderr!, this.stderr]] as const) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        const parts = buf.split('\n');
        buf = parts.pop()!;
        lines.push(...parts);
      });
      stream.on('end', () => {
        if (buf) lines.push(buf);
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code;
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** pino JSON lines of stderr. */
  logs(): LogLine[] {
    return this.stderr.flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
  }

  waitForLog(pred: (l: LogLine) => boolean, timeout = 15_000): Promise<LogLine> {
    return waitFor(() => this.logs().find(pred), { timeout, what: `a log line in: ${this.stderr.slice(-5).join(' | ')}` });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}

/** Runs the bin to completion: exit code and output. */
export async function run(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new Proc(args, options);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), options.timeout ?? 20_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  await new Promise((r) => setImmediate(r));
  return { code, stdout: p.stdout.join('\n'), stderr: p.stderr.join('\n') };
}

export async function makeStateDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-test-'));
  dirs.add(dir);
  return dir;
}

/** True while `pid` runs. A zombie (exited, not yet reaped by init after its parent died) is not alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface Api {
  proc: Proc;
  stateDir: string;
  url: string;
  port: number;
  /** Pid of the MCP child once it is running. */
  childPid: () => Promise<number>;
  mcpUrl: () => Promise<string>;
  fetch: (p: string, init?: RequestInit) => Promise<Response>;
  json: <T = any>(p: string, init?: RequestInit) => Promise<{ status: number; body: T }>;
}

/**
 * Starts `mcp-monitor start` on port 0 with its child on port 0; resolves when the API listens.
 * With `config` (a file for `--config`), the children's settings come from it; `serverId` is
 * then the server that `childPid` and `mcpUrl` (and `waitReady`) wait for.
 */
export async function startApi(options: { args?: string[]; env?: NodeJS.ProcessEnv; stateDir?: string; waitReady?: boolean; config?: string; serverId?: string } = {}): Promise<Api> {
  const stateDir = options.stateDir ?? (await makeStateDir());
  const childFlags = options.config ? ['--config', options.config] : ['--mcp-port', '0', '--heartbeat-ms', '500'];
  const proc = new Proc(['start', '--port', '0', '--state-dir', stateDir, ...childFlags, ...(options.args ?? [])], { env: options.env });
  const line = await proc.waitForLog((l) => l.msg === 'API listening');
  const idAt = options.args?.indexOf('--server-id') ?? -1;
  const serverId = options.serverId ?? (idAt >= 0 ? options.args![idAt + 1]! : 'default');
  const url = `http://127.0.0.1:${line.port}`;
  const api: Api = {
    proc,
    stateDir,
    url,
    port: line.port as number,
    fetch: (p, init) => fetch(url + p, init),
    json: async (p, init) => {
      const res = await fetch(url + p, init);
      return { status: res.status, body: (await res.json()) as any };
    },
    childPid: async () => {
      const h = await waitFor(async () => {
        const r = await api.json('/api/mcp/servers', init(options));
        const s = r.body.servers?.find((x: any) => x.serverId === serverId);
        return s?.status === 'running' && !s.stale ? s : undefined;
      }, { timeout: 20_000, what: 'the child running' });
      return h.pid as number;
    },
    mcpUrl: async () => {
      const h = await waitFor(async () => (await api.json('/api/mcp/servers', init(options))).body.servers?.find((x: any) => x.serverId === serverId && x.status === 'running' && x.mcpUrl), { timeout: 20_000, what: 'the MCP url' });
      return h.mcpUrl as string;
    },
  };
  if (options.waitReady !== false) await api.childPid();
  return api;
}

function init(options: { args?: string[] }): RequestInit | undefined {
  const i = options.args?.indexOf('--token') ?? -1;
  return i >= 0 ? { headers: { Authorization: `Bearer ${options.args![i + 1]}` } } : undefined;
}

/** Kills every process a test started (SIGKILL after a grace) and removes its state dirs. */
export async function cleanup(): Promise<void> {
  await Promise.all(
    [...procs].map(async (p) => {
      if (p.alive) {
        p.child.kill('SIGTERM');
        const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
        await p.exited;
        clearTimeout(t);
      }
      procs.delete(p);
    }),
  );
  await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
  dirs.clear();
}
