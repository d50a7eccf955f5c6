/**
 * One stdio MCP server process of a `--command` session (contract §7): spawned without a
 * shell, in its own process group (so that `npx` and whatever it starts end together), with
 * newline-delimited JSON-RPC on stdin/stdout. What it prints is hostile input: stdout lines are
 * bounded ({@link MAX_LINE_BYTES}; a longer one is dropped, never buffered whole) and must be
 * JSON objects; stderr lines go to the log, bounded and rate-limited. Ends by SIGTERM to its
 * group, then SIGKILL after {@link KILL_AFTER_MS}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

/** The longest stdout line (one JSON-RPC message) taken from a process. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;
/** How long a process has to exit after SIGTERM before its group gets SIGKILL. */
export const KILL_AFTER_MS = 5000;
/** stderr lines logged per process per minute; the rest are counted. */
const STDERR_LINES_PER_MINUTE = 60;
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
  message: [message: object];
  exit: [exit: ProcessExit];
}

/** Splits a byte stream into lines of at most `max` bytes; longer lines are skipped whole. */
class LineSplitter {
  #chunks: Buffer[] = [];
  #length = 0;
  #skipping = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onTooLong: () => void,
  ) {}

  push(data: Buffer): void {
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      this.#take(data.subarray(start, nl), true);
      start = nl + 1;
    }
    if (start < data.length) this.#take(data.subarray(start), false);
  }

  #take(part: Buffer, ends: boolean): void {
    if (!this.#skipping) {
      if (this.#length + part.length > this.max) {
        this.#skipping = true;
        this.#chunks = [];
        this.#length = 0;
        this.onTooLong();
      } else if (part.length > 0) {
        this.#chunks.push(part);
        this.#length += part.length;
      }
    }
    if (!ends) return;
    if (!this.#skipping && this.#length > 0) this.onLine(this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length));
    this.#chunks = [];
    this.#length = 0;
    this.#skipping = false;
  }
}

/** A running stdio server (`start()` resolves once it runs; `stop()` ends its group). */
export class StdioProcess extends EventEmitter<StdioProcessEvents> {
  readonly #argv: readonly string[];
  #log: Logger;
  #child: ChildProcess | undefined;
  #exit: ProcessExit | undefined;
  #exited: Promise<ProcessExit>;
  #resolveExit!: (e: ProcessExit) => void;
  #stderrWindow = 0;
  #stderrCount = 0;
  #stderrDropped = 0;

  constructor(argv: readonly string[], logger: Logger) {
    super();
    this.#argv = argv;
    this.#log = logger;
    this.#exited = new Promise((resolve) => (this.#resolveExit = resolve));
  }

  /** Logs from now on with `logger` (one that names the session, once it has an id). */
  useLogger(logger: Logger): void {
    this.#log = logger;
  }

  /** Its pid (= its process group), once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** How it ended, once it has. */
  get exit(): ProcessExit | undefined {
    return this.#exit;
  }

  /** Spawns it; rejects when it cannot run (the program is missing or not executable). */
  async start(): Promise<void> {
    const env = { ...process.env };
    // The API's token is for the API's users, never for a program we run (review L4).
    delete env.MCP_MONITOR_TOKEN;
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
    const errSplitter = new LineSplitter(64 * 1024, (line) => this.#onStderr(line), () => undefined);
    child.stderr!.on('data', (d: Buffer) => errSplitter.push(d));
    // EPIPE when it exited with a write on the way: its 'exit' tells the rest.
    child.stdin!.on('error', (err) => this.#log.debug({ err: err.message, stdioPid: child.pid }, 'stdin of a stdio server failed'));
    child.once('exit', (code, signal) => this.#ended({ code, signal }));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => {
        // With no pid it never ran: 'exit' will not come.
        if (child.pid === undefined) this.#ended({ code: null, signal: null, error: err });
        reject(err);
      });
    });
  }

  /** Sends one JSON-RPC message; false when the process is gone. */
  send(message: unknown): boolean {
    const stdin = this.#child?.stdin;
    if (!stdin || this.#exit || stdin.destroyed) return false;
    stdin.write(`${JSON.stringify(message)}\n`);
    return true;
  }

  /** SIGTERM to its group, SIGKILL after {@link KILL_AFTER_MS}; resolves when it has exited. */
  async stop(): Promise<ProcessExit> {
    const child = this.#child;
    if (!child) return this.#exited;
    if (this.#exit) {
      // The leader exited on its own; what it started may live on in its group.
      this.#signal('SIGKILL');
      return this.#exit;
    }
    this.#signal('SIGTERM');
    const timer = setTimeout(() => this.#signal('SIGKILL'), KILL_AFTER_MS);
    const exit = await this.#exited;
    clearTimeout(timer);
    // The leader is gone; a member that ignored SIGTERM may not be.
    this.#signal('SIGKILL');
    return exit;
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch (err) {
      // ESRCH: the whole group is gone already.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  #ended(exit: ProcessExit): void {
    if (this.#exit) return;
    this.#exit = exit;
    this.#resolveExit(exit);
    this.emit('exit', exit);
  }

  #onLine(line: Buffer): void {
    let message: unknown;
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      this.#log.warn({ stdioPid: this.pid, bytes: line.length }, 'stdio server wrote a line that is not JSON; dropped');
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.#log.warn({ stdioPid: this.pid }, 'stdio server wrote JSON that is not a JSON-RPC message; dropped');
      return;
    }
    this.emit('message', message);
  }

  #onStderr(line: Buffer): void {
    const now = Date.now();
    if (now - this.#stderrWindow >= 60_000) {
      if (this.#stderrDropped > 0) this.#log.info({ stdioPid: this.pid, dropped: this.#stderrDropped }, 'stdio server stderr lines not logged (rate limit)');
      this.#stderrWindow = now;
      this.#stderrCount = 0;
      this.#stderrDropped = 0;
    }
    if (this.#stderrCount >= STDERR_LINES_PER_MINUTE) {
      this.#stderrDropped += 1;
      return;
    }
    this.#stderrCount += 1;
    // eslint-disable-next-line no-control-regex
    const text = line.toString('utf8').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, STDERR_LINE_MAX);
    this.#log.info({ stdioPid: this.pid, stderr: text }, 'stdio server stderr');
  }
}
