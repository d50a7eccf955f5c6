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
 * - The file is opened with O_NOFOLLOW and must be a regular file of ours: a symbolic link
 *   planted in the state directory is refused, never written through. (A hard link needs write
 *   access to our 0700 directory, which only we have: see ensureStateDir.)
 */
import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { journalFileName, serializeJournalLine, type JournalLine } from '../../shared/journal.js';
import { errnoPhrase } from '../../shared/errno.js';
import { DIR_MODE, FILE_MODE, serverDir } from '../../shared/paths.js';
import { CLOSE_RETRY_MS, isTransient, RetryBackoff, shortWriteError } from './journal-retry.js';
import type { WriterLock } from './writer-lock.js';

// O_APPEND: every write lands at the end, wherever another handle left the offset. O_RDWR, not
// O_WRONLY: the last byte is read at open to mend a torn line. O_NOFOLLOW: never a planted link.
const OPEN_FLAGS = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

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
  readonly #maxBytes: number;
  readonly #files: number;
  readonly #maxQueue: number;
  readonly #log: Logger;
  readonly #lock: WriterLock;
  readonly #queue: string[] = [];
  /** The line being written, out of the queue (so that `maxQueue` never drops it half written). */
  #current: string | undefined;
  /** After a short write: the bytes of `#current` not yet written. */
  #rest: Buffer | undefined;
  readonly #backoff = new RetryBackoff();
  #fh: FileHandle | undefined;
  #size = 0;
  /** The file ends without a newline (a torn line): the next write starts with one. */
  #torn = false;
  #draining: Promise<void> | null = null;
  #opening: Promise<void> | undefined;
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #dropped = 0;
  /** Why our own last write was cut short, while the file ends in that partial line. */
  #shortWrite: string | undefined;

  constructor(options: JournalWriterOptions) {
    super();
    this.#dir = serverDir(options.stateDir, options.serverId);
    this.file = path.join(this.#dir, journalFileName(0));
    this.#maxBytes = options.maxBytes ?? 10 * 1024 * 1024;
    this.#files = options.files ?? 5;
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
      await this.#open();
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

  async #open(): Promise<void> {
    const fh = await open(this.file, OPEN_FLAGS, FILE_MODE).catch((err: NodeJS.ErrnoException) => {
      // O_NOFOLLOW on a symlink: ELOOP, whose own text ("too many symbolic links") misleads.
      throw err.code === 'ELOOP' ? Object.assign(new Error(`${this.file}: ${errnoPhrase(err)}`, { cause: err }), { code: err.code }) : err;
    });
    try {
      const st = await fh.stat();
      const uid = process.getuid?.();
      if (!st.isFile()) throw new Error('not a regular file (refused)');
      if (uid !== undefined && st.uid !== uid) throw new Error(`owned by uid ${st.uid}, not by this user (refused)`);
      // A file made by hand or by an older version may be looser; it holds client IPs.
      await fh.chmod(FILE_MODE);
      const { size } = st;
      let torn = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        torn = last[0] !== 0x0a;
      }
      this.#fh = fh;
      this.#size = size;
      this.#torn = torn;
      if (torn && this.#shortWrite !== undefined) {
        this.#log.warn({ file: this.file }, `the journal ends in a partial line of this writer (${this.#shortWrite}); ending it`);
      } else if (torn) {
        this.#log.warn({ file: this.file }, 'the journal ends in a torn line left by an earlier writer (killed mid-append, or its disk was full); ending it');
      }
      this.#shortWrite = undefined;
    } catch (err) {
      // The error thrown below is the one to report; a failing close of this handle adds nothing.
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  async #closeFile(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch((err: Error) => this.emit('error', new Error(`Could not close ${this.file}: ${err.message}`, { cause: err })));
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
    // The rest of a line cut short goes to the same file, right after its first part (O_APPEND,
    // and no other writer while the lock is ours); a reopened file starts the line over instead.
    if (!this.#fh) this.#rest = undefined;
    let out = this.#rest;
    if (!out) {
      if (!this.#fh) await this.#open();
      const line = Buffer.from(text);
      if (this.#size > 0 && this.#size + line.length + (this.#torn ? 1 : 0) > this.#maxBytes) await this.#rotate();
      out = this.#torn ? Buffer.concat([Buffer.from('\n'), line]) : line;
    }
    const { bytesWritten } = await this.#fh!.write(out, 0, out.length);
    this.#size += bytesWritten;
    if (bytesWritten > 0) this.#torn = out[bytesWritten - 1] !== 0x0a;
    if (bytesWritten < out.length) {
      this.#rest = out.subarray(bytesWritten);
      const err = shortWriteError(bytesWritten, out.length);
      if (this.#torn) this.#shortWrite = err.message;
      throw err;
    }
    this.#rest = undefined;
    this.#shortWrite = undefined;
  }

  /** events.jsonl → events.1.jsonl, events.1 → events.2, …; the oldest beyond `files` is replaced. */
  async #rotate(): Promise<void> {
    if (this.#torn) {
      // End the torn line in the file it belongs to, so no file ends mid-line.
      await this.#fh!.write('\n');
      this.#torn = false;
    }
    await this.#closeFile();
    for (let n = this.#files - 1; n >= 1; n -= 1) {
      await rename(path.join(this.#dir, journalFileName(n)), path.join(this.#dir, journalFileName(n + 1))).catch((err: NodeJS.ErrnoException) => {
        // ENOENT: fewer rotated files than kept so far.
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await rename(this.file, path.join(this.#dir, journalFileName(1)));
    this.#log.debug({ file: this.file }, 'journal rotated');
    await this.#open();
  }
}
