/**
 * One stdio MCP server process of a `--command` session: spawned without a
 * shell, in its own process group (so that `npx` and whatever it starts end together), with
 * newline-delimited JSON-RPC on stdin/stdout. What it prints is hostile input: stdout lines are
 * bounded ({@link MAX_LINE_BYTES}; a longer one is dropped, never buffered whole) and must be
 * JSON objects (warnings about the rest are rate-limited); stderr lines go to the log, bounded
 * and rate-limited. Ends as the MCP stdio lifecycle says
 * (https://modelcontextprotocol.io/specification/2025-06-18/basic/lifecycle#stdio): stdin closed,
 * SIGTERM to its group after {@link TERM_AFTER_MS}, SIGKILL {@link KILL_AFTER_MS} after that.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { processIdentity, type ProcessIdentity } from '../../../shared/io/process-identity.js';
import { STDIO_KILL_AFTER_MS, STDIO_TERM_AFTER_MS } from '../../../shared/stdio-stop.js';
import { LineSplitter } from '../../../shared/line-splitter.js';
import { RateLimitedLog } from '../../endpoint/rate-limited-log.js';

/** The longest stdout line (one JSON-RPC message) taken from a process. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;
/** How long a process has to exit once its stdin is closed before its group gets SIGTERM. */
export const TERM_AFTER_MS = STDIO_TERM_AFTER_MS;
/** How long a process has to exit after SIGTERM before its group gets SIGKILL. */
export const KILL_AFTER_MS = STDIO_KILL_AFTER_MS;
/** stderr lines logged per process per minute; the rest are counted. */
const STDERR_LINES_PER_MINUTE = 60;
/** Warnings about bad stdout lines logged per process per minute; the rest are counted. */
const BAD_LINES_PER_MINUTE = 60;
/** The longest stderr line logged (characters). */
const STDERR_LINE_MAX = 1000;

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it never ran (spawn ENOENT, EACCES), else undefined. */
  error?: Error;
}

interface StdioProcessEvents {
  /** A JSON-RPC message and the bytes of its line. */
  message: [message: object, bytes: number];
  exit: [exit: ProcessExit];
}

/** A running stdio server (`start()` resolves once it runs; `stop()` ends its group). */
export class StdioProcess extends EventEmitter<StdioProcessEvents> {
  readonly #argv: readonly string[];
  #log: Logger;
  #child: ChildProcess | undefined;
  #exit: ProcessExit | undefined;
  #exited: Promise<ProcessExit>;
  #resolveExit!: (e: ProcessExit) => void;
  readonly #env: Record<string, string>;
  #started = false;
  #identity: ProcessIdentity | undefined;
  #stopping: Promise<ProcessExit> | undefined;
  readonly #stderrLimit = new RateLimitedLog({
    perMinute: STDERR_LINES_PER_MINUTE,
    onDropped: (dropped) => this.#log.info({ stdioPid: this.pid, dropped }, 'stdio server stderr lines not logged (rate limit)'),
  });
  readonly #badLineLimit = new RateLimitedLog({
    perMinute: BAD_LINES_PER_MINUTE,
    onDropped: (dropped) => this.#log.warn({ stdioPid: this.pid, dropped }, 'stdio server wrote more lines that are not JSON-RPC messages; dropped, not logged (rate limit)'),
  });

  /**
   * @param argv the command line, split
   * @param logger where its stderr and warnings go
   * @param env its whole environment (see `stdioEnv`); default this process's own
   */
  constructor(argv: readonly string[], logger: Logger, env?: Record<string, string>) {
    super();
    this.#argv = argv;
    this.#log = logger;
    this.#env = env ?? (process.env as Record<string, string>);
    this.#exited = new Promise((resolve) => (this.#resolveExit = resolve));
  }

  /** Resolves when the process has exited (or never ran): the moment its slot and row may go. */
  get exited(): Promise<ProcessExit> {
    return this.#exited;
  }

  /** Logs from now on with `logger` (one that names the session, once it has an id). */
  useLogger(logger: Logger): void {
    this.#log = logger;
  }

  /** Its pid (= its process group), once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Who it is exactly (pid, start ticks, uid, boot id), read from /proc right after its spawn,
   * while it cannot have been reaped (we are its parent); undefined without /proc.
   */
  get identity(): ProcessIdentity | undefined {
    return this.#identity;
  }

  /** How it ended, once it has. */
  get exit(): ProcessExit | undefined {
    return this.#exit;
  }

  /** Spawns it; rejects when it cannot run (the program is missing or not executable). */
  async start(): Promise<void> {
    if (this.#started) throw new Error('StdioProcess already started');
    this.#started = true;
    if (this.#stopping) throw new Error('StdioProcess closed before it started');
    const env = this.#env;
    const [file, ...args] = this.#argv;
    let child: ChildProcess;
    try {
      child = spawn(file!, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env, windowsHide: true });
    } catch (err) {
      // E2BIG and the like are thrown, not emitted.
      this.#ended({ code: null, signal: null, error: err as Error });
      throw err;
    }
    this.#child = child;
    const splitter = new LineSplitter(MAX_LINE_BYTES, (line) => this.#onLine(line), () => this.#log.warn({ stdioPid: child.pid, maxBytes: MAX_LINE_BYTES }, 'stdio server wrote an over-long line; dropped'));
    child.stdout!.on('data', (d: Buffer) => splitter.push(d));
    // 'exit' may come before the last of stdout: its end reports what was held back too.
    child.stdout!.on('end', () => this.#badLineLimit.flush());
    const errSplitter = new LineSplitter(64 * 1024, (line) => this.#onStderr(line), () => undefined);
    child.stderr!.on('data', (d: Buffer) => errSplitter.push(d));
    // EPIPE when it exited with a write on the way: its 'exit' tells the rest.
    child.stdin!.on('error', (err) => this.#log.debug({ err: err.message, stdioPid: child.pid }, 'stdin of a stdio server failed'));
    child.once('exit', (code, signal) => this.#ended({ code, signal }));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => {
        if (child.pid !== undefined) this.#identity = processIdentity(child.pid);
        resolve();
      });
      child.once('error', (err) => {
        // With no pid it never ran: 'exit' will not come.
        if (child.pid === undefined) this.#ended({ code: null, signal: null, error: err });
        reject(err);
      });
    });
  }

  /**
   * Sends one JSON-RPC message; false when the process is gone. What it has not read yet is
   * {@link inputBacklog}: the caller bounds it (stdin.write buffers whatever it is given).
   */
  send(message: unknown): boolean {
    const stdin = this.#child?.stdin;
    if (!stdin || this.#exit || stdin.destroyed) return false;
    stdin.write(`${JSON.stringify(message)}\n`);
    return true;
  }

  /** Bytes written to its stdin and not yet taken by its pipe (0 when gone). */
  get inputBacklog(): number {
    const stdin = this.#child?.stdin;
    return stdin && !stdin.destroyed ? stdin.writableLength : 0;
  }

  /** Stops reading its stdout: its pipe fills and its writes block until {@link resumeOutput}. */
  pauseOutput(): void {
    this.#child?.stdout?.pause();
  }

  /** Reads its stdout again. */
  resumeOutput(): void {
    this.#child?.stdout?.resume();
  }

  /**
   * Closes its stdin, SIGTERM to its group {@link TERM_AFTER_MS} later, SIGKILL
   * {@link KILL_AFTER_MS} after that; resolves when it has exited. The same promise every time.
   */
  stop(): Promise<ProcessExit> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /** The same as {@link stop}: the lifecycle name. */
  close(): Promise<ProcessExit> {
    return this.stop();
  }

  async #stop(): Promise<ProcessExit> {
    const child = this.#child;
    // Never started, or start() is spawning: wait for it to have a child or to fail.
    if (!child) {
      if (!this.#started) {
        this.#ended({ code: null, signal: null, error: new Error('stopped before it started') });
        return this.#exited;
      }
      await new Promise((r) => setImmediate(r));
      if (!this.#child) return this.#exited;
      return this.#stop();
    }
    if (this.#exit) {
      // The leader exited on its own; what it started may live on in its group.
      this.#signal('SIGKILL');
      return this.#exit;
    }
    child.stdin?.end();
    const term = setTimeout(() => {
      this.#signal('SIGTERM');
      kill = setTimeout(() => this.#signal('SIGKILL'), KILL_AFTER_MS).unref();
    }, TERM_AFTER_MS).unref();
    let kill: NodeJS.Timeout | undefined;
    const exit = await this.#exited;
    clearTimeout(term);
    clearTimeout(kill);
    // The leader is gone; a member that ignored SIGTERM may not be.
    this.#signal('SIGKILL');
    return exit;
  }

  /** Signals its group; never throws (it runs in timers): EPERM is logged, ESRCH means gone. */
  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch (err) {
      // ESRCH: the whole group is gone already.
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
      // EPERM: a member changed its uid (setuid program); the rest of the sequence still runs.
      this.#log.warn({ stdioPid: pid, signal, err: (err as Error).message }, 'cannot signal the process group of a stdio server');
    }
  }

  #ended(exit: ProcessExit): void {
    if (this.#exit) return;
    this.#stderrLimit.flush();
    this.#badLineLimit.flush();
    this.#exit = exit;
    this.#resolveExit(exit);
    this.emit('exit', exit);
  }

  #onLine(line: Buffer): void {
    let message: unknown;
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      if (this.#badLineLimit.allow()) this.#log.warn({ stdioPid: this.pid, bytes: line.length }, 'stdio server wrote a line that is not JSON; dropped');
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      if (this.#badLineLimit.allow()) this.#log.warn({ stdioPid: this.pid }, 'stdio server wrote JSON that is not a JSON-RPC message; dropped');
      return;
    }
    this.emit('message', message, line.length);
  }

  #onStderr(line: Buffer): void {
    if (!this.#stderrLimit.allow()) return;
    // eslint-disable-next-line no-control-regex
    const text = line.toString('utf8').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, STDERR_LINE_MAX);
    this.#log.info({ stdioPid: this.pid, stderr: text }, 'stdio server stderr');
  }
}
