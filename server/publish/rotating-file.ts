/**
 * The file under a journal rotated by size (the event journal, server/publish/journal-writer.ts,
 * and the calls journal, server/publish/calls-journal.ts): how it is opened, how far it has
 * grown, whether it ends mid-line, and its rotation. What to write, when, and what to do when a
 * write fails is the journal's own business.
 *
 * - Opened with O_APPEND (every write lands at the end) and O_NOFOLLOW, and only when it is a
 *   regular file of this user: a symbolic link planted in the state directory is refused, never
 *   written through. (A hard link needs write access to our 0700 directory, which only we have:
 *   see ensureStateDir.) Mode 0600, tightened on a looser file made by hand or by an older version.
 * - A killed writer (or a full disk) may leave a torn last line: {@link RotatingFile.framed} puts
 *   a newline before the next write, so the torn line stays one bad line that readers skip, never
 *   a bad next line.
 * - Rotation happens between writes, before one that would take the file past `maxBytes`:
 *   `<stem>.jsonl` → `<stem>.1.jsonl` → … → `<stem>.<files>.jsonl`, the oldest beyond `files`
 *   replaced (names: shared/journal-names.ts).
 */
import { constants } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { errnoPhrase } from '../../shared/errno.js';
import type { JournalNames } from '../../shared/journal-names.js';
import { FILE_MODE } from '../../shared/paths.js';
import { shortWriteError } from './journal-retry.js';

// O_APPEND: every write lands at the end, wherever another handle left the offset. O_RDWR, not
// O_WRONLY: the last byte is read at open to mend a torn line. O_NOFOLLOW: never a planted link.
const OPEN_FLAGS = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** Options of a {@link RotatingFile}. */
export interface RotatingFileOptions {
  /** The server directory it lives in (made by its journal). */
  dir: string;
  names: JournalNames;
  /** Rotate before a write that would take the current file past this many bytes. */
  maxBytes: number;
  /** Rotated files kept (`<stem>.1.jsonl` … `<stem>.<files>.jsonl`). */
  files: number;
  logger: Logger;
  /** What the log lines call it: `journal`, `calls journal`. */
  label: string;
  /** A handle that could not be closed (nothing was lost: what was written is in the file). */
  onCloseError: (err: Error) => void;
}

export class RotatingFile {
  /** Path of the current file. */
  readonly file: string;
  readonly #o: RotatingFileOptions;
  #fh: FileHandle | undefined;
  #size = 0;
  /** The file ends without a newline (a torn line): the next write starts with one. */
  #torn = false;
  /** Why our own last write was cut short, while the file ends in that partial line. */
  #shortWrite: string | undefined;

  constructor(options: RotatingFileOptions) {
    this.#o = options;
    this.file = path.join(options.dir, options.names.current);
  }

  /** Whether a handle is open (after a failure its journal closes it, and a reopen starts clean). */
  get isOpen(): boolean {
    return this.#fh !== undefined;
  }

  /** Opens the current file (mode 0600) and notes whether it ends in a torn line. Rejects when it cannot be opened or is not ours. */
  async open(): Promise<void> {
    const fh = await open(this.file, OPEN_FLAGS, FILE_MODE).catch((err: NodeJS.ErrnoException) => {
      // O_NOFOLLOW on a symlink: ELOOP, whose own text ("too many symbolic links") misleads.
      throw err.code === 'ELOOP' ? Object.assign(new Error(`${this.file}: ${errnoPhrase(err)}`, { cause: err }), { code: err.code }) : err;
    });
    try {
      const st = await fh.stat();
      const uid = process.getuid?.();
      if (!st.isFile()) throw new Error('not a regular file (refused)');
      if (uid !== undefined && st.uid !== uid) throw new Error(`owned by uid ${st.uid}, not by this user (refused)`);
      // A file made by hand or by an older version may be looser; it holds client data.
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
      const { label, logger } = this.#o;
      if (torn && this.#shortWrite !== undefined) {
        logger.warn({ file: this.file }, `the ${label} ends in a partial line of this writer (${this.#shortWrite}); ending it`);
      } else if (torn) {
        logger.warn({ file: this.file }, `the ${label} ends in a torn line left by an earlier writer (killed mid-append, or its disk was full); ending it`);
      }
      this.#shortWrite = undefined;
    } catch (err) {
      // The error thrown below is the one to report; a failing close of this handle adds nothing.
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Whether writing `bytes` more (after the newline a torn line needs) would take the current
   * file past `maxBytes`. Never for an empty file: a write longer than that gets a file of its own.
   */
  wouldOverflow(bytes: number): boolean {
    return this.#size > 0 && this.exceeds(bytes);
  }

  /** Whether writing `bytes` more (after the newline a torn line needs) would take the current file past `maxBytes`, empty or not. */
  exceeds(bytes: number): boolean {
    return this.#size + bytes + (this.#torn ? 1 : 0) > this.#o.maxBytes;
  }

  /** `data` as it must be written now: after a newline when the file ends in a torn line. */
  framed(data: Buffer): Buffer {
    return this.#torn ? Buffer.concat([Buffer.from('\n'), data]) : data;
  }

  /**
   * One write(2) of `out` at the end of the open file; resolves with the bytes written (fewer on a
   * full disk: the file then ends mid-line, and the caller decides what becomes of the rest).
   */
  async write(out: Buffer): Promise<number> {
    const { bytesWritten } = await this.#fh!.write(out, 0, out.length);
    this.#size += bytesWritten;
    if (bytesWritten > 0) this.#torn = out[bytesWritten - 1] !== 0x0a;
    if (bytesWritten < out.length) {
      if (this.#torn) this.#shortWrite = shortWriteError(bytesWritten, out.length).message;
    } else {
      this.#shortWrite = undefined;
    }
    return bytesWritten;
  }

  /** `<stem>.jsonl` → `<stem>.1.jsonl`, `.1` → `.2`, …; the oldest beyond `files` is replaced; then a new current file. */
  async rotate(): Promise<void> {
    const { dir, names, files, label, logger } = this.#o;
    if (this.#torn) {
      // End the torn line in the file it belongs to, so no file ends mid-line.
      await this.#fh!.write('\n');
      this.#torn = false;
    }
    await this.close();
    for (let n = files - 1; n >= 1; n -= 1) {
      await rename(path.join(dir, names.file(n)), path.join(dir, names.file(n + 1))).catch((err: NodeJS.ErrnoException) => {
        // ENOENT: fewer rotated files than kept so far.
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await rename(this.file, path.join(dir, names.file(1)));
    logger.debug({ file: this.file }, `${label} rotated`);
    await this.open();
  }

  /** Closes the handle, if open; a failure goes to `onCloseError`. Never rejects. */
  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch((err: Error) => this.#o.onCloseError(new Error(`Could not close ${this.file}: ${err.message}`, { cause: err })));
  }
}
