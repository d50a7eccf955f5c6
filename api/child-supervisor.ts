/**
 * Runs one MCP child like supervisord runs a program: states `starting`, `running`, `backoff`,
 * `stopped`, `fatal`. The child is ready when its snapshot says `running` with its own pid (the
 * API never reads readiness from stdout). A child that dies is restarted with exponential
 * backoff, capped, and reset after a stable run; one that keeps failing to start is `fatal`.
 * The child gets an IPC channel only so that it notices when this process is gone (no orphans).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { RECLAIM_PID_ENV } from '../shared/settings.js';
import type { Snapshot } from '../shared/snapshot.js';

export type ChildState = 'starting' | 'running' | 'backoff' | 'stopped' | 'fatal';

export interface ChildSupervisorOptions {
  serverId: string;
  /** Program to run; default `process.execPath` (never a shell). */
  command?: string;
  /** Its arguments, e.g. `[bin, 'server', '--state-dir', dir, …]`. */
  args: string[];
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** A child not `running` (per its snapshot) this long after spawn is killed and retried. Default 20000. */
  readyTimeoutMs?: number;
  /** SIGTERM, then SIGKILL after this long. Default 5000. */
  stopTimeoutMs?: number;
  /** First restart delay, doubled on each failure. Default 500. */
  backoffInitialMs?: number;
  /** Largest restart delay. Default 30000. */
  backoffMaxMs?: number;
  /** A run this long counts as stable: the backoff starts over. Default 10000. */
  stableMs?: number;
  /** Consecutive failed starts before `fatal`. Default 5. */
  maxStartFailures?: number;
}

interface SupervisorEvents {
  state: [state: ChildState, previous: ChildState];
  exit: [info: { pid: number; code: number | null; signal: NodeJS.Signals | null; expected: boolean }];
}

type ResolvedOptions = Required<Omit<ChildSupervisorOptions, 'env' | 'command'>> & { env: NodeJS.ProcessEnv; command: string };

// Exit code 2 is bad usage (a setting): restarting cannot fix it.
const EXIT_USAGE = 2;

export class ChildSupervisor extends EventEmitter<SupervisorEvents> {
  readonly serverId: string;
  readonly #o: ResolvedOptions;
  readonly #log: Logger;
  #state: ChildState = 'stopped';
  #child: ChildProcess | undefined;
  #pid: number | undefined;
  #spawnedAt: number | undefined;
  #restarts = 0;
  #startFailures = 0;
  #backoffMs: number;
  #timer: NodeJS.Timeout | undefined;
  #exited: Promise<void> | undefined;
  #lastDeadPid: number | undefined;
  #started = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: ChildSupervisorOptions) {
    super();
    this.serverId = options.serverId;
    this.#o = {
      command: process.execPath,
      env: process.env,
      readyTimeoutMs: 20_000,
      stopTimeoutMs: 5000,
      backoffInitialMs: 500,
      backoffMaxMs: 30_000,
      stableMs: 10_000,
      maxStartFailures: 5,
      ...options,
    } as ResolvedOptions;
    this.#log = options.logger;
    this.#backoffMs = this.#o.backoffInitialMs;
  }

  get state(): ChildState {
    return this.#state;
  }

  /** Pid of the current child process, while there is one. */
  get pid(): number | undefined {
    return this.#pid;
  }

  /** Times the child was started again after the first start. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Spawns the child. Readiness arrives through {@link observe}. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('ChildSupervisor already started');
    this.#started = true;
    this.#spawn();
  }

  /** Feeds a snapshot of this server (from the watcher): a `running` one of our pid means ready. */
  observe(snapshot: Snapshot): void {
    if (snapshot.pid !== this.#pid || this.#state !== 'starting') return;
    if (snapshot.status === 'running') {
      clearTimeout(this.#timer);
      this.#setState('running');
      this.#log.info({ pid: this.#pid, url: snapshot.mcp?.url }, 'MCP child running');
    }
  }

  /** Resolves when the child is `running`, rejects when it becomes `fatal`/`stopped` or after `timeoutMs`. */
  waitUntilRunning(timeoutMs: number): Promise<void> {
    if (this.#state === 'running') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('state', onState);
        reject(new Error(`MCP child "${this.serverId}" not running after ${timeoutMs} ms (state ${this.#state})`));
      }, timeoutMs).unref();
      const onState = (state: ChildState) => {
        if (state === 'running') resolve();
        else if (state === 'fatal' || state === 'stopped') reject(new Error(`MCP child "${this.serverId}" is ${state}`));
        else return;
        clearTimeout(timer);
        this.off('state', onState);
      };
      this.on('state', onState);
    });
  }

  /** Stops the child (SIGTERM, then SIGKILL) and does not restart it. Safe to call many times. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      clearTimeout(this.#timer);
      const child = this.#child;
      const wasState = this.#state;
      this.#setState('stopped');
      if (child && this.#exited) {
        if (wasState !== 'backoff') this.#log.info({ pid: child.pid }, 'stopping MCP child');
        child.kill('SIGTERM');
        const kill = setTimeout(() => {
          this.#log.warn({ pid: child.pid }, 'MCP child did not stop in time; SIGKILL');
          child.kill('SIGKILL');
        }, this.#o.stopTimeoutMs).unref();
        await this.#exited;
        clearTimeout(kill);
      }
    })();
    return this.#closePromise;
  }

  #setState(next: ChildState): void {
    const prev = this.#state;
    if (prev === next) return;
    this.#state = next;
    this.emit('state', next, prev);
  }

  #spawn(): void {
    const env = { ...this.#o.env };
    delete env[RECLAIM_PID_ENV];
    if (this.#lastDeadPid !== undefined) env[RECLAIM_PID_ENV] = String(this.#lastDeadPid);
    const child = spawn(this.#o.command, this.#o.args, { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.#child = child;
    this.#spawnedAt = Date.now();
    this.#setState('starting');
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#onExit(child, code, signal);
        resolve();
      });
    });
    child.once('error', (err) => this.#log.error({ err: err.message }, 'could not spawn the MCP child'));
    this.#pid = child.pid;
    // The IPC channel is only a lifeline: never let it keep the API alive.
    child.channel?.unref();
    this.#pipeOutput(child);
    this.#log.info({ pid: child.pid }, 'MCP child spawned');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#child !== child || this.#state !== 'starting') return;
      this.#log.error({ pid: child.pid, readyTimeoutMs: this.#o.readyTimeoutMs }, 'MCP child did not become ready; killing it');
      child.kill('SIGKILL');
    }, this.#o.readyTimeoutMs).unref();
  }

  #pipeOutput(child: ChildProcess): void {
    const log = this.#log.child({ childPid: child.pid });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        let rec: Record<string, unknown> | undefined;
        try {
          const v: unknown = JSON.parse(line);
          if (typeof v === 'object' && v !== null && typeof (v as { level?: unknown }).level === 'number') rec = v as Record<string, unknown>;
        } catch {
          // Not a pino line (a user's --entry may print anything): logged as text below.
        }
        if (!rec) return log.info({ line }, 'child output');
        const { level, msg, time: _t, pid: _p, hostname: _h, name: _n, ...fields } = rec;
        const lvl = level as number;
        const method = lvl >= 50 ? 'error' : lvl >= 40 ? 'warn' : lvl >= 30 ? 'info' : 'debug';
        log[method]({ child: fields }, String(msg ?? ''));
      });
    }
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    clearTimeout(this.#timer);
    const pid = child.pid!;
    this.#child = undefined;
    this.#pid = undefined;
    const expected = this.#state === 'stopped';
    this.emit('exit', { pid, code, signal, expected });
    if (expected) {
      this.#log.info({ pid, code, signal }, 'MCP child stopped');
      return;
    }
    this.#lastDeadPid = pid;
    const ranMs = Date.now() - (this.#spawnedAt ?? Date.now());
    const wasStarting = this.#state === 'starting';
    if (wasStarting) this.#startFailures += 1;
    else this.#startFailures = 0;
    if (!wasStarting && ranMs >= this.#o.stableMs) this.#backoffMs = this.#o.backoffInitialMs;
    if (wasStarting && code === EXIT_USAGE) {
      this.#log.error({ pid, code }, 'MCP child rejected its settings; not restarting');
      this.#setState('fatal');
      return;
    }
    if (this.#startFailures >= this.#o.maxStartFailures) {
      this.#log.error({ pid, code, signal, failures: this.#startFailures }, 'MCP child keeps failing to start; giving up');
      this.#setState('fatal');
      return;
    }
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#o.backoffMaxMs);
    this.#log.warn({ pid, code, signal, ranMs, restartInMs: delay }, 'MCP child exited unexpectedly; restarting');
    this.#setState('backoff');
    this.#timer = setTimeout(() => {
      if (this.#state !== 'backoff') return;
      this.#restarts += 1;
      this.#spawn();
    }, delay).unref();
  }
}
