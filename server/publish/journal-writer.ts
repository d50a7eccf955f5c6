/**
 * Appends the event journal `state/<serverId>/events.jsonl` (see shared/journal.ts): one JSON line
 * per event, rotated by size into `events.1.jsonl` … `events.N.jsonl`.
 *
 * - Each line goes out in ONE write(2) on a file opened with O_APPEND, so a line is never split
 *   and never lands in two files: rotation happens between lines, before a write that would
 *   take the file past `maxBytes`.
 * - A killed writer may leave a torn last line; the next writer ends it with a newline before
 *   its first line, so the torn line stays one bad line that readers skip, never a bad next line.
 * - `append()` only queues: writes run in the background one at a time. The MCP server is never
 *   held up or broken. A line that failed for want of room or descriptors (ENOSPC, EMFILE,
 *   ENFILE, EAGAIN, a short write) is kept and tried again with backoff (server/publish/journal-retry.ts):
 *   lines are lost only past `maxQueue`, or at close if room does not come back within
 *   {@link CLOSE_RETRY_MS}. After a short write only the bytes not yet written go out, so the
 *   line ends up whole, once. Other failures are reported as `'error'` events and the line is
 *   dropped.
 *
 * - The writer's {@link WriterLock} guards the journal too: each line is written only after
 *   `lock.verify()`, and once the lock is lost the queue is dropped and the file closed without
 *   another byte (the next writer's journal is not ours to append to).
 * - The file itself (opening without following a link, mending a torn line, rotation) is
 *   server/publish/rotating-file.ts, shared with the calls journal.
 */
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { serializeJournalLine, type JournalLine } from '../../shared/journal.js';
import { EVENT_JOURNAL } from '../../shared/journal-names.js';
import { DIR_MODE, serverDir } from '../../shared/paths.js';
import { CLOSE_RETRY_MS, isTransient, RetryBackoff, shortWriteError } from './journal-retry.js';
import { RotatingFile } from './rotating-file.js';
import type { WriterLock } from './writer-lock.js';

/** While writes keep failing for want of room, a reminder every this many retries (about a minute). */
const REMIND_EVERY = 30;

export interface JournalWriterOptions {
  stateDir: string;
  serverId: string;
  /** The lock of this server id: nothing is written unless it is still ours. */
  lock: WriterLock;
  /** Rotate before a write that would take `events.jsonl` past this many bytes. Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept (`events.1.jsonl` … `events.<files>.jsonl`). Default 5. */
  files?: number;
  /** Lines queued at most while the disk is slow; past it the oldest are dropped. Default 10000. */
  maxQueue?: number;
  logger: Logger;
}

interface JournalWriterEvents {
  /** A write, an open or a rotation failed and the line was dropped (a transient failure is retried, not reported). */
  error: [err: Error];
}

export class JournalWriter extends EventEmitter<JournalWriterEvents> {
  /** Path of `events.jsonl`. */
  readonly file: string;
  readonly #dir: string;
  readonly #maxQueue: number;
  readonly #log: Logger;
  readonly #lock: WriterLock;
  readonly #queue: string[] = [];
  /** The line being written, out of the queue (so that `maxQueue` never drops it half written). */
  #current: string | undefined;
  /** After a short write: the bytes of `#current` not yet written. */
  #rest: Buffer | undefined;
  readonly #backoff = new RetryBackoff();
  readonly #f: RotatingFile;
  #draining: Promise<void> | null = null;
  #opening: Promise<void> | undefined;
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #dropped = 0;

  constructor(options: JournalWriterOptions) {
    super();
    this.#dir = serverDir(options.stateDir, options.serverId);
    this.#f = new RotatingFile({
      dir: this.#dir,
      names: EVENT_JOURNAL,
      maxBytes: options.maxBytes ?? 10 * 1024 * 1024,
      files: options.files ?? 5,
      logger: options.logger,
      label: 'journal',
      onCloseError: (err) => this.emit('error', err),
    });
    this.file = this.#f.file;
    this.#maxQueue = options.maxQueue ?? 10_000;
    this.#log = options.logger;
    this.#lock = options.lock;
    this.#lock.on('compromised', () => this.#onLockLost());
  }

  /** Opens `events.jsonl` (mode 0600) and mends a torn last line. Rejects when it cannot be opened. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('JournalWriter already started');
    this.#started = true;
    // Closed before it started (the lock was lost meanwhile): the file is not ours to open.
    if (this.#closed) return;
    this.#opening = (async () => {
      await mkdir(this.#dir, { recursive: true, mode: DIR_MODE });
      await this.#f.open();
    })();
    await this.#opening;
    if (!this.#closed) this.#kick();
  }

  /** Queues one line; never throws, never waits. Lines before `start()` are written by it. */
  append(line: JournalLine): void {
    if (this.#closed) return;
    this.#queue.push(serializeJournalLine(line));
    this.#trimQueue();
    if (this.#started) this.#kick();
  }

  /** Resolves when every line queued so far has been written (or dropped); on a full disk, once room is back. */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Writes what is queued (unless the lock was lost) and closes the file. Safe to call many times. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      this.#backoff.hurry();
      // A failed start is its caller's to report; the lines queued get one more try below.
      await this.#opening?.catch(() => undefined);
      if (this.#started) this.#kick();
      await this.flush();
      await this.#closeFile();
    })();
    return this.#closePromise;
  }

  #closeFile(): Promise<void> {
    return this.#f.close();
  }

  /** The lock is lost: drop every queued line and close the file without writing. */
  #onLockLost(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#current = undefined;
    this.#rest = undefined;
    this.#dropped = 0;
    this.#backoff.interrupt();
    // A write in flight finishes first (its verify() passed before the loss was known).
    void (async () => {
      await this.flush();
      await this.#closeFile();
    })();
  }

  #kick(): void {
    if (this.#draining || (this.#queue.length === 0 && this.#current === undefined)) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      // Lines queued while the last write was finishing.
      if (this.#queue.length > 0 && !this.#closePromise) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (!this.#lock.compromised) {
      if (this.#dropped > 0) {
        this.emit('error', new Error(`${this.#dropped} journal line(s) dropped: the disk is too slow or full for ${this.file}`));
        this.#dropped = 0;
      }
      this.#current ??= this.#queue.shift();
      if (this.#current === undefined) return;
      try {
        await this.#write(this.#current);
        this.#current = undefined;
        const b = this.#backoff;
        if (b.tries > 0) this.#log.info({ file: this.file, retries: b.tries, failingMs: b.failingMs }, 'journal writes resumed; no line lost');
        b.reset();
      } catch (err) {
        if (this.#lock.compromised) return; // the line was not written, and none will be
        if (isTransient(err) && (await this.#retryLater(err as Error))) continue;
        this.#current = undefined;
        this.#rest = undefined;
        if (isTransient(err)) {
          // Closing, and still no room: what is left is lost, said once.
          const lost = 1 + this.#queue.length;
          this.#queue.length = 0;
          this.emit('error', new Error(`${lost} journal line(s) dropped at close of ${this.file}: still failing after ${CLOSE_RETRY_MS} ms (${(err as Error).message})`, { cause: err }));
          return;
        }
        this.emit('error', new Error(`Could not append to ${this.file}: ${(err as Error).message}`, { cause: err }));
        // Reopen on the next line: the handle may be what broke.
        await this.#closeFile();
      }
    }
  }

  /** Waits before the next try of the current line; false when closing and out of time. */
  async #retryLater(err: Error): Promise<boolean> {
    const tries = this.#backoff.tries;
    if (tries === 0 || tries % REMIND_EVERY === 0) {
      this.#log.warn({ file: this.file, err: err.message, retries: tries, queued: this.#queue.length + 1 }, 'journal append failed for want of room or descriptors; keeping the line and retrying');
    }
    return this.#backoff.wait();
  }

  /** Past `maxQueue` the oldest lines are dropped (and counted). */
  #trimQueue(): void {
    while (this.#queue.length > this.#maxQueue) {
      this.#queue.shift();
      this.#dropped += 1;
    }
  }

  async #write(text: string): Promise<void> {
    await this.#lock.verify();
    const f = this.#f;
    // The rest of a line cut short goes to the same file, right after its first part (O_APPEND,
    // and no other writer while the lock is ours); a reopened file starts the line over instead.
    if (!f.isOpen) this.#rest = undefined;
    let out = this.#rest;
    if (!out) {
      if (!f.isOpen) await f.open();
      const line = Buffer.from(text);
      if (f.wouldOverflow(line.length)) await f.rotate();
      out = f.framed(line);
    }
    const bytesWritten = await f.write(out);
    if (bytesWritten < out.length) {
      this.#rest = out.subarray(bytesWritten);
      throw shortWriteError(bytesWritten, out.length);
    }
    this.#rest = undefined;
  }
}
