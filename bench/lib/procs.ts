/**
 * Processes and directories the bench makes, tracked so that `cleanupAll()` leaves nothing
 * behind (also on Ctrl-C), and what the bench reads of them: RSS and CPU time from /proc.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './clock.js';

/** The repository root (this file runs from dist/.bench/bench/lib/). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'mcp-monitor.js');
/** Where the compiled bench lives. */
export const BENCH_DIST = fileURLToPath(new URL('../', import.meta.url));

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function spawnNode(args: string[], options: SpawnOptions = {}): ChildProcess {
  return track(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options }));
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `mcp-monitor-bench-${prefix}-`));
  dirs.add(dir);
  return dir;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stop(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

export async function cleanupAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
  await Promise.all([...dirs].map((d) => removeDir(d)));
}

/** Resident set size of a process in MiB (VmRSS of /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : Number.NaN;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm) ": state is [0], utime [11], stime [12], in clock ticks (USER_HZ = 100 on Linux).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Proportional set size in MiB (Pss of /proc/<pid>/smaps_rollup): shared pages (the node binary) split among the processes mapping them. */
export function pssMb(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : Number.NaN;
}

/** What a process holds of the kernel's per-user limits: open descriptors, inotify instances and their watches. */
export interface Handles {
  fds: number;
  inotifyInstances: number;
  inotifyWatches: number;
}

/**
 * Reads /proc/<pid>/fd and, for each inotify descriptor, its fdinfo (one `inotify wd:` line per
 * watch). Watches count against fs.inotify.max_user_watches, instances against
 * fs.inotify.max_user_instances, both per user.
 */
export function handles(pid: number): Handles {
  const fds = readdirSync(`/proc/${pid}/fd`);
  let inotifyInstances = 0;
  let inotifyWatches = 0;
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch (err) {
      // ENOENT: the descriptor was closed between the listing and the readlink.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (target !== 'anon_inode:inotify') continue;
    inotifyInstances++;
    inotifyWatches += readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
  }
  return { fds: fds.length, inotifyInstances, inotifyWatches };
}

/** The API process, listening; its children may not be running yet. */
export interface ApiProcess {
  child: ChildProcess;
  url: string;
  stateDir: string;
  apiPid: number;
  /** Stops the API (SIGTERM, SIGKILL after `graceMs`, default 5000) and removes the state directory. */
  close: (graceMs?: number) => Promise<void>;
}

export interface Api extends ApiProcess {
  childPid: number;
  mcpUrl: string;
}

/**
 * Spawns the real `mcp-monitor start --port 0 --state-dir <fresh dir> …args` at the default log
 * level and resolves once it listens (the port from its `API listening` log line). `args` name
 * the servers: `--mcp-port 0` for one child, or `--config FILE` for a fleet (a
 * child setting given as a flag beside a config file is a usage error).
 * `env`: more environment for the API, which passes it on to its children (the profiler sets
 * `NODE_OPTIONS=--cpu-prof …` this way to profile both). `stateDir`: one made by the caller
 * (a fresh temp directory by default).
 */
export async function spawnApi(args: string[], env: NodeJS.ProcessEnv = {}, stateDir?: string): Promise<ApiProcess> {
  stateDir ??= await tempDir('state');
  // BENCH_CPU_PROF=<dir>: the API writes a V8 CPU profile there when it exits (open it in
  // Chrome DevTools). The child, spawned by the API, is not profiled.
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawnNode([...prof, BIN, 'start', '--port', '0', '--state-dir', stateDir, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MCP_MONITOR_LOG_LEVEL: 'info', ...env },
  });
  let port: number | undefined;
  let buf = '';
  const tail: string[] = [];
  child.stderr!.setEncoding('utf8');
  // Always drained: a full pipe would block the API's synchronous logging.
  child.stderr!.on('data', (d: string) => {
    if (port !== undefined) return;
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      tail.push(l);
      if (tail.length > 5) tail.shift();
      try {
        const j = JSON.parse(l) as { msg?: string; port?: number };
        if (j.msg === 'API listening') port = j.port;
      } catch {
        // not a log line (a stack trace of a crash): kept in `tail` for the error message
      }
    }
  });
  await waitUntil(() => port !== undefined || child.exitCode !== null, 20_000, 'the API to listen');
  if (port === undefined) throw new Error(`bench: the API exited: ${tail.join(' | ')}`);
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    stateDir,
    apiPid: child.pid!,
    close: async (graceMs?: number) => {
      await stop(child, graceMs);
      await removeDir(stateDir);
    },
  };
}

/**
 * Starts the real product with one child on port 0 (see {@link spawnApi}); resolves when the
 * child is running.
 */
export async function startApi(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Api> {
  const api = await spawnApi(['--mcp-port', '0', ...extraArgs], env);
  const server = await waitUntil(async () => {
    const r = (await (await fetch(`${api.url}/api/mcp/servers`)).json()) as { servers: { status: string; pid: number; mcpUrl: string | null }[] };
    const s = r.servers[0];
    return s?.status === 'running' && s.mcpUrl ? s : undefined;
  }, 20_000, 'the MCP child to run', 20);
  return { ...api, childPid: server.pid, mcpUrl: server.mcpUrl! };
}
