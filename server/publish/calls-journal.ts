/**
 * The calls journal `state/<serverId>/calls.jsonl` (docs/state-directory.md, lines in shared/calls.ts): one
 * line per request a client made, told by the endpoints as a {@link FinishedRequest}
 * (server/operations/finished-request.ts). Never any payload: only the fields of a
 * {@link CallLine}, each client string bounded and without control characters.
 *
 * Off the request path: `finished()` only makes the line's text and queues its bytes (at most
 * `maxQueue` lines; past that a line is dropped and counted). A timer, `flushMs` after the first
 * line queued, or a queue of `batchLines`, writes what is queued in batches, each one write(2) on
 * the file (two around a rotation). A slow disk delays only the journal; a failing one (the write
 * throws: ENOSPC, EIO, a short write) loses that batch, which is counted, and the next batch tries
 * again: the MCP server never waits and never breaks. `dropped` feeds the snapshot's
 * `callsDropped`.
 *
 * The file is opened, checked and rotated like the event journal's (server/publish/rotating-file.ts:
 * O_NOFOLLOW, 0600, `calls.1.jsonl` … `calls.<files>.jsonl`), only under the writer lock: each
 * batch is written after `lock.verify()`, and once the lock is lost the queue is dropped and the
 * file closed without another byte. `close()` writes what is queued, then closes the file.
 */
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { CallLineOutcome } from '../../shared/calls.js';
import { CALLS_JOURNAL } from '../../shared/journal-names.js';
import { DIR_MODE, serverDir } from '../../shared/paths.js';
import type { CallOutcome, FinishedRequest, RequestObserver } from '../operations/finished-request.js';
import { CallLineText } from './call-line-text.js';
import { shortWriteError } from './journal-retry.js';
import { LineQueue, type LineBatch } from './line-queue.js';
import { RotatingFile } from './rotating-file.js';
import type { WriterLock } from './writer-lock.js';

// The seam's outcomes are the journal's: a new one must be added to shared/calls.ts as well.
const SAME_OUTCOMES: CallOutcome extends CallLineOutcome ? (CallLineOutcome extends CallOutcome ? true : never) : never = true;
void SAME_OUTCOMES;

export interface CallsJournalOptions {
  stateDir: string;
  serverId: string;
  /** The lock of this server id: nothing is written unless it is still ours. */
  lock: WriterLock;
  /** Rotate before a batch would take `calls.jsonl` past this many bytes (`--calls-max-bytes`). Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept, `calls.1.jsonl` … `calls.<files>.jsonl` (`--calls-files`). Default 5. */
  files?: number;
  /** Lines queued at most while the disk is slow; past it new lines are dropped (and counted). Default 10000. */
  maxQueue?: number;
  /**
   * How long after the first line queued the batch is written, ms. Default 1000: each append
   * wakes whatever watches the server directory (the API's watcher re-lists it), so under load
   * the batches' count, not their size, is what the journal costs; at 200 the API spent about
   * 8 µs more CPU per request and the child about 15 (docs/bench.md, throughput). The journal
   * is written in batches off the request path, at no interval promised; `calls --follow` sees a line
   * within about a second, and a queue of `batchLines` is written at once.
   */
  flushMs?: number;
  /** A batch holds at most this many lines; a queue this long is written at once. Default 1000. */
  batchLines?: number;
  logger: Logger;
}

interface CallsJournalEvents {
  /** Lines were lost (a failed write, a full queue) or the file could not be opened or closed. */
  error: [err: Error];
}

/** The writer of `calls.jsonl`; see the file comment. */
export class CallsJournal extends EventEmitter<CallsJournalEvents> implements RequestObserver {
  /** Path of `calls.jsonl`. */
  readonly file: string;
  readonly #dir: string;
  readonly #lock: WriterLock;
  readonly #maxQueue: number;
  readonly #flushMs: number;
  readonly #batchLines: number;
  readonly #f: RotatingFile;
  readonly #queue = new LineQueue();
  readonly #lines = new CallLineText();
  #seq = 0;
  #dropped = 0;
  /** Dropped off a full queue since that was last reported. */
  #unreported = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | null = null;
  #opening: Promise<void> | undefined;
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: CallsJournalOptions) {
    super();
    this.#dir = serverDir(options.stateDir, options.serverId);
    this.#lock = options.lock;
    this.#maxQueue = options.maxQueue ?? 10_000;
    this.#flushMs = options.flushMs ?? 1000;
    this.#batchLines = options.batchLines ?? 1000;
    this.#f = new RotatingFile({
      dir: this.#dir,
      names: CALLS_JOURNAL,
      maxBytes: options.maxBytes ?? 10 * 1024 * 1024,
      files: options.files ?? 5,
      logger: options.logger,
      label: 'calls journal',
      onCloseError: (err) => this.emit('error', err),
    });
    this.file = this.#f.file;
    this.#lock.on('compromised', () => this.#onLockLost());
  }

  /** Lines this writer could not write: dropped off a full queue, or lost with a failed batch (the snapshot's `callsDropped`). */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Opens (and creates) `calls.jsonl`; the lock must be ours. Rejects when it cannot be opened
   * (a planted link, another owner): the caller reports it, and each batch tries again.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('CallsJournal already started');
    this.#started = true;
    if (this.#closed) return;
    this.#opening = (async () => {
      await mkdir(this.#dir, { recursive: true, mode: DIR_MODE });
      await this.#lock.verify();
      await this.#f.open();
    })();
    try {
      await this.#opening;
    } finally {
      if (!this.#closed && this.#queue.length > 0) this.#arm();
    }
  }

  /** One request ended: its line is queued (never written here, never throws). */
  finished(r: FinishedRequest): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#maxQueue) {
      this.#dropped += 1;
      this.#unreported += 1;
      return;
    }
    this.#seq += 1;
    this.#queue.push(this.#lines.text(r, this.#seq));
    if (this.#started) this.#queue.length >= this.#batchLines ? this.#kick() : this.#arm();
  }

  /** Resolves once every line queued so far has been written or given up on. */
  async flush(): Promise<void> {
    if (!this.#started || this.#closed) return this.#closePromise;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#kick();
    while (this.#writing) await this.#writing;
  }

  /** Writes what is queued (unless the lock was lost) and closes the file. The same promise every time. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      // A failed start is its caller's to report; the lines queued get their try below.
      await this.#opening?.catch(() => undefined);
      if (this.#started) this.#kick();
      while (this.#writing) await this.#writing;
      await this.#f.close();
    })();
    return this.#closePromise;
  }

  #arm(): void {
    if (this.#timer || this.#writing) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick();
    }, this.#flushMs).unref();
  }

  #kick(): void {
    if (this.#writing || this.#queue.length === 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#writing = this.#drain().finally(() => {
      this.#writing = null;
      // Lines queued while the last batch was written wait for the timer (or go now, when closing).
      if (this.#queue.length > 0) this.#closed ? this.#kick() : this.#arm();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && !this.#lock.compromised) {
      if (this.#unreported > 0) {
        this.emit('error', new Error(`${this.#unreported} calls journal line(s) dropped: more than ${this.#maxQueue} waited for ${this.file}`));
        this.#unreported = 0;
      }
      const batch = this.#queue.take(this.#batchLines);
      const written = await this.#write(batch).catch((err: Error & { written?: number }) => {
        if (this.#lock.compromised) return batch.sizes.length; // not written, and nothing will be: not ours to count
        const lost = batch.sizes.length - (err.written ?? 0);
        this.#dropped += lost;
        this.emit('error', new Error(`${lost} calls journal line(s) dropped: could not append to ${this.file}: ${err.message}`, { cause: err }));
        return undefined;
      });
      if (written === undefined) {
        // Reopen for the next batch: the handle may be what broke.
        await this.#f.close();
      }
    }
  }

  /**
   * Appends the lines of `batch`, rotating between them where the file would pass `maxBytes`;
   * resolves with how many were written. A failure rejects with `written`, the lines written
   * whole before it. Each run of lines that fits is one write(2).
   */
  async #write({ data: all, sizes }: LineBatch): Promise<number> {
    const f = this.#f;
    let done = 0;
    /** Where line `done` starts in `all`. */
    let start = 0;
    try {
      await this.#lock.verify();
      if (!f.isOpen) await f.open();
      while (done < sizes.length) {
        let bytes = 0;
        let end = done;
        // As many lines as fit; the first at least in an empty file (one longer than maxBytes gets a file of its own).
        while (end < sizes.length && !(end === done ? f.wouldOverflow(sizes[end]!) : f.exceeds(bytes + sizes[end]!))) bytes += sizes[end++]!;
        if (end === done) {
          await f.rotate();
          continue;
        }
        const data = all.subarray(start, start + bytes);
        const out = f.framed(data);
        const n = await f.write(out);
        if (n < out.length) {
          // A full disk: the lines wholly written count, the rest of the batch is lost.
          let whole = done;
          for (let at = out.length - data.length; whole < end && at + sizes[whole]! <= n; whole += 1) at += sizes[whole]!;
          done = whole;
          throw shortWriteError(n, out.length);
        }
        done = end;
        start += bytes;
      }
      return done;
    } catch (err) {
      throw Object.assign(err as Error, { written: done });
    }
  }

  /** The lock is lost: drop every queued line and close the file without writing. */
  #onLockLost(): void {
    this.#closed = true;
    this.#queue.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // A write in flight finishes first (its verify() passed before the loss was known).
    void (async () => {
      while (this.#writing) await this.#writing;
      await this.#f.close();
    })();
  }
}
