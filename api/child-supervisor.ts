/**
 * Runs one MCP child like supervisord runs a program: states `starting`, `running`, `backoff`,
 * `stopped`, `fatal`. The child is ready when its snapshot says `running` with its own pid (the
 * API never reads readiness from stdout). A child that dies is restarted with exponential
 * backoff, capped, and reset after a stable run; one that keeps failing to start is `fatal`.
 * The child gets an IPC channel only so that it notices when this process is gone (no orphans).
 * A child that cannot even be spawned (ENOENT of the node binary after an upgrade, EACCES,
 * EAGAIN) is a failed start like any other: backoff, then `fatal`.
 *
 * An operator acts on it too (see routes/control.ts): {@link ChildSupervisor.stopChild} ends the
 * child and keeps it down, {@link ChildSupervisor.startChild} brings it up again (from `fatal`
 * too), and {@link ChildSupervisor.restartChild} ends it and starts a new one, not counted in
 * `restarts` (those count the supervisor's own restarts after a crash). Actions run one after the
 * other, in the order they were asked for, each once the previous one is done; a repeat of the
 * action still waiting is merged into it, and few may wait ({@link ActionQueue}).
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { errnoPhrase } from '../shared/errno.js';
import { RECLAIM_PID_ENV, SETTINGS, SUPERVISED_ENV } from '../shared/settings.js';
import type { Snapshot } from '../shared/snapshot.js';
import { CHILD_STOP_TIMEOUT_MS } from '../shared/stdio-stop.js';
import { ActionQueue } from './action-queue.js';
import { pipeChildOutput } from './child-output.js';
import { spawnChild } from './spawn-child.js';

/** supervisord's states of a program. */
export type ChildState = 'starting' | 'running' | 'backoff' | 'stopped' | 'fatal';

/** What the `'exit'` event tells of a child that ended, or that could not be spawned. */
export interface ChildExit {
  /** Undefined when the process was never created (spawn failed). */
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True after `close()` asked it to stop. */
  expected: boolean;
  /** Why spawning failed, if it did. */
  spawnError?: Error;
}

export interface ChildSupervisorOptions {
  serverId: string;
  /** Program to run; default `process.execPath` (never a shell). */
  command?: string;
  /** Its arguments, e.g. `[bin, 'server', '--state-dir', dir, …]`. */
  args: string[];
  /** Its environment; default `process.env`. The API's token (`MCP_MONITOR_TOKEN`) is always removed. */
  env?: NodeJS.ProcessEnv;
  /** Its working directory; default this process's. */
  cwd?: string;
  /** `start()` spawns the child; false: it stays `stopped` until {@link ChildSupervisor.startChild}. Default true. */
  autostart?: boolean;
  logger: Logger;
  /** A child not `running` (per its snapshot) this long after spawn is killed and retried. Default 20000. */
  readyTimeoutMs?: number;
  /**
   * SIGTERM, then SIGKILL after this long. Default 10000 ({@link CHILD_STOP_TIMEOUT_MS}): longer
   * than a child takes to end its `--command` processes (5 s), so that it always gets to.
   */
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
  exit: [info: ChildExit];
}

type ResolvedOptions = Required<Omit<ChildSupervisorOptions, 'env' | 'command' | 'cwd' | 'autostart'>> & { env: NodeJS.ProcessEnv; command: string; cwd: string | undefined };

// Exit code 2 is bad usage (a setting): restarting cannot fix it.
const EXIT_USAGE = 2;

/**
 * Never handed to the child: the API's secret is of no use to the MCP server, and the user's
 * `--entry` code (or anything it runs) must not read it.
 */
const TOKEN_ENV = SETTINGS.token.env;

/** Supervises one MCP child: `start()`, feed it snapshots with `observe()`, `close()`. Emits `'state'` and `'exit'`. */
export class ChildSupervisor extends EventEmitter<SupervisorEvents> {
  readonly serverId: string;
  readonly #o: ResolvedOptions;
  readonly #log: Logger;
  #state: ChildState = 'stopped';
  #child: ChildProcess | undefined;
  #pid: number | undefined;
  /** `performance.now()` at the last spawn (monotonic: a clock step does not change how long a child ran). */
  #spawnedAt: number | undefined;
  #restarts = 0;
  #startFailures = 0;
  #backoffMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** Resolves when the current child process (`#child`) has ended. */
  #exited: Promise<void> | undefined;
  #lastDeadPid: number | undefined;
  /** What the child should be doing: running, or stopped by `close()` or an operator. */
  #intent: 'run' | 'stop';
  /** Children this supervisor asked to end (stop, restart, close): their exit is expected. */
  readonly #asked = new WeakSet<ChildProcess>();
  /** The operator actions, one after another, repeats merged. */
  readonly #queue = new ActionQueue<'start' | 'stop' | 'restart', ChildState>();
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: ChildSupervisorOptions) {
    super();
    this.serverId = options.serverId;
    this.#o = {
      command: process.execPath,
      env: process.env,
      readyTimeoutMs: 20_000,
      stopTimeoutMs: CHILD_STOP_TIMEOUT_MS,
      backoffInitialMs: 500,
      backoffMaxMs: 30_000,
      stableMs: 10_000,
      maxStartFailures: 5,
      ...options,
    } as ResolvedOptions;
    this.#log = options.logger;
    this.#backoffMs = this.#o.backoffInitialMs;
    this.#intent = options.autostart === false ? 'stop' : 'run';
  }

  get state(): ChildState {
    // Meant to run but not started yet (waiting for its turn while the API starts its fleet).
    if (!this.#started && this.#intent === 'run' && !this.#closed) return 'starting';
    return this.#state;
  }

  /** Pid of the current child process, while there is one. */
  get pid(): number | undefined {
    return this.#pid;
  }

  /** Times the supervisor started the child again after it died (not the restarts an operator asked for). */
  get restarts(): number {
    return this.#restarts;
  }

  /** True while the child is meant to run: not stopped by an operator, by `close()`, or for want of `autostart`. */
  get wanted(): boolean {
    return this.#intent === 'run';
  }

  /** Begins supervising: spawns the child, unless `autostart` is false. Readiness arrives through {@link observe}. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('ChildSupervisor already started');
    this.#started = true;
    if (this.#intent === 'run') this.#spawn();
  }

  /**
   * Starts the child if it is not up: from `stopped` or `fatal`, and at once from `backoff`,
   * with a fresh count of failures. A no-op while it is `starting` or `running`. Resolves with
   * the state then (`starting`). Rejects with `ActionQueueFull` when too many actions wait.
   */
  startChild(): Promise<ChildState> {
    return this.#enqueue('start', async () => {
      this.#intent = 'run';
      if (!this.#started || this.#state === 'starting' || this.#state === 'running') return this.state;
      this.#spawnFresh();
      return this.#state;
    });
  }

  /** Stops the child (SIGTERM, then SIGKILL) and keeps it stopped until started. Resolves once it has exited, with `stopped`. */
  stopChild(): Promise<ChildState> {
    return this.#enqueue('stop', async () => {
      this.#intent = 'stop';
      await this.#end();
      return this.#state;
    });
  }

  /** Stops the child if it runs and starts a new one (not counted in `restarts`). Resolves once the new one is spawned. */
  restartChild(): Promise<ChildState> {
    return this.#enqueue('restart', async () => {
      this.#intent = 'run';
      if (!this.#started) return this.#state;
      await this.#end();
      // close() may have come while the old child was ending: it stays down then.
      if (this.#intent === 'run') this.#spawnFresh();
      return this.#state;
    });
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

  /**
   * The state once a start has come to something: at once unless `starting`, else at the first
   * change of state (`running`, or `backoff`, `fatal`, `stopped`), or after `timeoutMs`.
   */
  settle(timeoutMs: number): Promise<ChildState> {
    if (this.state !== 'starting') return Promise.resolve(this.state);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('state', onState);
        resolve(this.state);
      };
      const onState = (state: ChildState) => {
        if (state !== 'starting') done();
      };
      const timer = setTimeout(done, timeoutMs).unref();
      this.on('state', onState);
    });
  }

  /** Stops the child (SIGTERM, then SIGKILL) and does not restart it; later actions do nothing. Safe to call many times. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      this.#intent = 'stop';
      await this.#end();
      // An action under way (a restart waiting for its old child) finishes without spawning.
      await this.#queue.idle();
    })();
    return this.#closePromise;
  }

  #enqueue(kind: 'start' | 'stop' | 'restart', action: () => Promise<ChildState>): Promise<ChildState> {
    return this.#queue.run(kind, () => (this.#closed ? Promise.resolve(this.#state) : action()));
  }

  /** A start an operator asked for: the failures and the backoff of earlier runs no longer count. */
  #spawnFresh(): void {
    clearTimeout(this.#timer);
    this.#startFailures = 0;
    this.#backoffMs = this.#o.backoffInitialMs;
    this.#spawn();
  }

  /** Ends the current child, if any, on purpose: `stopped` at once, resolved once it has exited. */
  async #end(): Promise<void> {
    clearTimeout(this.#timer);
    const child = this.#child;
    const exited = this.#exited;
    this.#setState('stopped');
    if (!child || !exited) return;
    this.#asked.add(child);
    // No pid: the spawn failed and 'error' is on its way. Never kill() such a child: its handle
    // has no process (pid 0), and in a test run that kill() took down the whole process group.
    if (child.pid === undefined) return exited;
    this.#log.info({ pid: child.pid }, 'stopping MCP child');
    child.kill('SIGTERM');
    const kill = setTimeout(() => {
      this.#log.warn({ pid: child.pid }, 'MCP child did not stop in time; SIGKILL');
      child.kill('SIGKILL');
    }, this.#o.stopTimeoutMs).unref();
    await exited;
    clearTimeout(kill);
  }

  #setState(next: ChildState): void {
    const prev = this.#state;
    if (prev === next) return;
    this.#state = next;
    this.emit('state', next, prev);
  }

  #spawn(): void {
    const env = { ...this.#o.env };
    delete env[TOKEN_ENV];
    delete env[RECLAIM_PID_ENV];
    if (this.#lastDeadPid !== undefined) env[RECLAIM_PID_ENV] = String(this.#lastDeadPid);
    env[SUPERVISED_ENV] = '1';
    this.#spawnedAt = performance.now();
    this.#setState('starting');
    let child: ChildProcess;
    try {
      ({ child, exited: this.#exited } = spawnChild(this.#o.command, this.#o.args, { env, cwd: this.#o.cwd }, this.#log, (c, code, signal, spawnError) => this.#onExit(c, code, signal, spawnError)));
    } catch (err) {
      // Node throws for errnos other than ENOENT, EACCES, EAGAIN, EMFILE, ENFILE (E2BIG, ENOMEM,
      // …) and for bad arguments; this may run in the backoff timer, where a throw kills the API.
      this.#failed(undefined, null, null, err as Error);
      return;
    }
    this.#child = child;
    this.#pid = child.pid;
    if (child.pid === undefined) return;
    // The IPC channel is only a lifeline: never let it keep the API alive.
    child.channel?.unref();
    pipeChildOutput(child, this.#log);
    this.#log.info({ pid: child.pid }, 'MCP child spawned');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#child !== child || this.#state !== 'starting') return;
      this.#log.error({ pid: child.pid, readyTimeoutMs: this.#o.readyTimeoutMs }, 'MCP child did not become ready; killing it');
      child.kill('SIGKILL');
    }, this.#o.readyTimeoutMs).unref();
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    if (!this.#asked.has(child)) return this.#failed(child.pid, code, signal, spawnError);
    this.#pid = undefined;
    // Its lock may be left behind (a SIGKILL after the stop timeout): the next child may take it over.
    if (child.pid !== undefined) this.#lastDeadPid = child.pid;
    this.emit('exit', { pid: child.pid, code, signal, expected: true, ...(spawnError ? { spawnError } : {}) });
  }

  /** The child ended (or never began): restart it after a backoff, or give up. */
  #failed(pid: number | undefined, code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void {
    clearTimeout(this.#timer);
    this.#pid = undefined;
    this.emit('exit', { pid, code, signal, expected: false, ...(spawnError ? { spawnError } : {}) });
    // Stopped on purpose meanwhile (a spawn that failed while being stopped): it stays stopped.
    if (this.#intent === 'stop') return this.#setState('stopped');
    if (spawnError) this.#log.error({ command: this.#o.command, err: errnoPhrase(spawnError), code: (spawnError as NodeJS.ErrnoException).code }, 'could not spawn the MCP child');
    if (pid !== undefined) this.#lastDeadPid = pid;
    const ranMs = Math.round(performance.now() - (this.#spawnedAt ?? performance.now()));
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
    this.#log.warn({ pid, code, signal, ranMs, restartInMs: delay }, spawnError ? 'restarting after a failed spawn' : 'MCP child exited unexpectedly; restarting');
    this.#setState('backoff');
    this.#timer = setTimeout(() => {
      if (this.#state !== 'backoff') return;
      this.#restarts += 1;
      this.#spawn();
    }, delay).unref();
  }
}
