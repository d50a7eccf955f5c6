/**
 * The relay of `mcp-monitor wrap`: runs CMD (no shell, in its own process group) and joins the
 * client's pipes to it, the client's stdin to CMD's stdin and CMD's stdout to ours, with stream
 * pipe semantics: byte for byte, in order, and with backpressure both ways (a reader that does not
 * read pauses the writer; nothing is buffered past the streams' high-water marks). CMD's stderr
 * is ours (inherited). Nothing else is ever written to stdout.
 *
 * What the tap sees ('client' and 'server' chunks) is emitted after the chunk was handed on, and a
 * listener that throws is ignored: observing never changes or stops the relay.
 *
 * How it ends, following the MCP stdio lifecycle
 * (https://modelcontextprotocol.io/specification/2025-06-18/basic/lifecycle#stdio): the client's
 * EOF is passed on as EOF, SIGTERM to CMD's group {@link WRAP_TERM_AFTER_MS} later if it has not
 * exited, SIGKILL {@link WRAP_KILL_AFTER_MS} after that. The end's reason is its first cause:
 * `close` (the client's EOF), `terminated` ({@link WrapRelay.terminate}), `shutdown` (a signal
 * passed on), else `process-exit` (CMD exited by itself).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { processIdentity, type ProcessIdentity } from '../../../shared/io/process-identity.js';

/** How long CMD has to exit after its stdin was closed before its group gets SIGTERM. */
export const WRAP_TERM_AFTER_MS = 5000;
/** How long CMD has to exit after SIGTERM before its group gets SIGKILL. */
export const WRAP_KILL_AFTER_MS = 5000;
/** How long CMD's stdout may stay open after CMD exited (a grandchild holding it) before it is let go. */
const STDOUT_AFTER_EXIT_MS = 2000;

/** Why the relay ended (the connection's `disconnect` reason). */
export type RelayEndReason = 'close' | 'process-exit' | 'terminated' | 'shutdown';

/** How CMD ended and what the wrapper exits with. */
export interface RelayExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The wrapper's exit status: CMD's code, or 128 + the signal's number, as a shell reports it. */
  status: number;
  reason: RelayEndReason;
}

/** CMD could not be started; `status` is what a shell exits with (127 not found, 126 not executable). */
export class CommandStartError extends Error {
  readonly code = 'ECMDSTART';
  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CommandStartError';
  }
}

interface RelayEvents {
  /** Bytes the client sent, already handed to CMD. */
  client: [chunk: Buffer];
  /** Bytes CMD sent, already handed to the client. */
  server: [chunk: Buffer];
  /** The end began (its first cause). */
  ending: [reason: RelayEndReason];
}

/** Options of a {@link WrapRelay}. */
export interface WrapRelayOptions {
  /** The client's side: default the process's stdin. */
  input?: Readable;
  /** The client's side: default the process's stdout. */
  output?: Writable;
  /** Default {@link WRAP_TERM_AFTER_MS}. */
  termAfterMs?: number;
  /** Default {@link WRAP_KILL_AFTER_MS}. */
  killAfterMs?: number;
}

/** The wrapper's exit status for how a process ended. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? os.constants.signals[signal] : undefined;
  return n !== undefined ? 128 + n : 1;
}

function startError(file: string, err: NodeJS.ErrnoException): CommandStartError {
  // As bash words them: `bash: foo: command not found` (127), `Permission denied` (126).
  if (err.code === 'ENOENT') return new CommandStartError(`${file}: command not found`, 127, { cause: err });
  if (err.code === 'EACCES' || err.code === 'EPERM') return new CommandStartError(`${file}: permission denied`, 126, { cause: err });
  return new CommandStartError(`${file}: cannot run: ${err.message}`, 126, { cause: err });
}

/** CMD and the pipes joined to it: `start()` once; `finished` when CMD exited and its output was relayed. */
export class WrapRelay extends EventEmitter<RelayEvents> {
  readonly #argv: readonly string[];
  readonly #input: Readable;
  readonly #output: Writable;
  readonly #termAfterMs: number;
  readonly #killAfterMs: number;
  #child: ChildProcess | undefined;
  #identity: ProcessIdentity | undefined;
  #reason: RelayEndReason | undefined;
  #termTimer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  /** The client no longer reads our stdout (EPIPE): CMD's output is read and dropped. */
  #outputGone = false;
  readonly finished: Promise<RelayExit>;
  #resolveFinished!: (e: RelayExit) => void;

  constructor(argv: readonly string[], options: WrapRelayOptions = {}) {
    super();
    if (argv.length === 0) throw new Error('WrapRelay needs a command');
    this.#argv = argv;
    this.#input = options.input ?? process.stdin;
    this.#output = options.output ?? process.stdout;
    this.#termAfterMs = options.termAfterMs ?? WRAP_TERM_AFTER_MS;
    this.#killAfterMs = options.killAfterMs ?? WRAP_KILL_AFTER_MS;
    this.finished = new Promise((resolve) => (this.#resolveFinished = resolve));
  }

  /** CMD's pid (its process group), once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Who CMD is exactly (pid, start ticks, uid, boot id), read right after its spawn; undefined without /proc. */
  get identity(): ProcessIdentity | undefined {
    return this.#identity;
  }

  /** The first cause of the end, once it began. */
  get reason(): RelayEndReason | undefined {
    return this.#reason;
  }

  /** Spawns CMD and joins the pipes; rejects with {@link CommandStartError} when it cannot run. */
  async start(): Promise<void> {
    if (this.#child) throw new Error('WrapRelay already started');
    const [file, ...args] = this.#argv;
    let child: ChildProcess;
    try {
      // detached: CMD leads its own process group, so that its whole group can be ended (also by
      // the next writer of the id, should this wrapper be killed; shared/process-groups.ts).
      child = spawn(file!, args, { detached: true, stdio: ['pipe', 'pipe', 'inherit'], windowsHide: true });
    } catch (err) {
      throw startError(file!, err as NodeJS.ErrnoException);
    }
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (child.pid === undefined) reject(startError(file!, err));
      });
    });
    this.#identity = processIdentity(child.pid!);
    this.#join(child);
  }

  #join(child: ChildProcess): void {
    const input = this.#input;
    const output = this.#output;
    const stdin = child.stdin!;
    const stdout = child.stdout!;
    // EPIPE once CMD has exited (or closed its stdin): what the client sends then has nowhere to go.
    stdin.on('error', () => input.unpipe(stdin));
    input.pipe(stdin);
    input.on('data', (chunk: Buffer) => this.#tell('client', chunk));
    input.once('end', () => this.#endInput('close'));
    // The client's stdin failing is its end too.
    input.once('error', () => this.#endInput('close'));

    stdout.pipe(output, { end: false });
    stdout.on('data', (chunk: Buffer) => this.#tell('server', chunk));
    output.on('error', () => {
      // The client stopped reading (EPIPE): keep draining CMD so it never blocks, and end it as a client that left.
      this.#outputGone = true;
      stdout.unpipe(output);
      stdout.resume();
      this.#endInput('close');
    });

    const stdoutDone = new Promise<void>((resolve) => {
      stdout.once('end', resolve);
      stdout.once('close', resolve);
    });
    child.once('exit', (code, signal) => void this.#exited(code, signal, stdoutDone));
  }

  #tell(event: 'client' | 'server', chunk: Buffer): void {
    try {
      this.emit(event, chunk);
    } catch {
      // The tap failing is the tap's problem (it reports its own): the relay goes on unchanged.
    }
  }

  #begin(reason: RelayEndReason): void {
    if (this.#reason) return;
    this.#reason = reason;
    try {
      this.emit('ending', reason);
    } catch {
      // As in #tell.
    }
  }

  /** The client's input ended (or is ended for it): CMD gets EOF, then SIGTERM and SIGKILL if it stays. */
  #endInput(reason: RelayEndReason): void {
    this.#begin(reason);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.#input.unpipe(child.stdin!);
    child.stdin!.end();
    if (this.#termTimer) return;
    this.#termTimer = setTimeout(() => {
      this.#signalGroup('SIGTERM');
      this.#killTimer = setTimeout(() => this.#signalGroup('SIGKILL'), this.#killAfterMs);
    }, this.#termAfterMs);
  }

  /** Ends CMD on request (reason `terminated`): its stdin closed, then SIGTERM, then SIGKILL. */
  terminate(): void {
    this.#input.pause();
    this.#endInput('terminated');
  }

  /** Passes a signal the wrapper got to CMD's group (reason `shutdown`). */
  forward(signal: NodeJS.Signals): void {
    this.#begin('shutdown');
    this.#signalGroup(signal);
  }

  #signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined || this.#child!.exitCode !== null || this.#child!.signalCode !== null) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is gone already. EPERM: a setuid member; the leader's exit still ends us.
    }
  }

  async #exited(code: number | null, signal: NodeJS.Signals | null, stdoutDone: Promise<void>): Promise<void> {
    clearTimeout(this.#termTimer);
    clearTimeout(this.#killTimer);
    this.#begin('process-exit');
    const child = this.#child!;
    // All of CMD's output first; a grandchild that holds the pipe open is not waited for long.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stdoutDone, new Promise<void>((r) => (timer = setTimeout(r, STDOUT_AFTER_EXIT_MS).unref()))]);
    clearTimeout(timer);
    child.stdout!.unpipe(this.#output);
    child.stdout!.destroy();
    child.stdin!.destroy();
    // Then what our stdout still holds, unless nobody reads it: an empty write's callback comes
    // after every write before it ('drain' would not come for a buffer under its high-water mark).
    if (!this.#outputGone && !this.#output.destroyed) {
      await new Promise<void>((resolve) => this.#output.write(Buffer.alloc(0), () => resolve()));
    }
    // Nothing more is read from the client: the process may exit.
    this.#input.unpipe();
    this.#input.pause();
    this.#input.destroy();
    this.#resolveFinished({ code, signal, status: exitStatus(code, signal), reason: this.#reason! });
  }
}
