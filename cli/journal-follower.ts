/**
 * Follows one journal file like `tail -F`: keeps its handle open, reads what was appended since
 * the last call, and when the file was rotated (a new inode under the name) finishes the old
 * file before it goes on with the new one from its start. Only whole lines come out; a torn line
 * (a killed writer's) turns into a warning when the next writer ends it.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { parseJournalLine, type JournalLine } from '../shared/journal.js';

export interface JournalFollowerOptions {
  /** Skip what the file holds when `init()` runs (follow from now on). Default false. */
  fromEnd?: boolean;
  onWarning: (message: string) => void;
}

const CHUNK = 64 * 1024;

export class JournalFollower {
  readonly file: string;
  readonly #onWarning: (message: string) => void;
  #fromEnd: boolean;
  #fh: FileHandle | undefined;
  #ino: number | undefined;
  #offset = 0;
  #buf = '';
  #decoder = new StringDecoder('utf8');

  constructor(file: string, options: JournalFollowerOptions) {
    this.file = file;
    this.#fromEnd = options.fromEnd ?? false;
    this.#onWarning = options.onWarning;
  }

  /** Positions at the end of the file when `fromEnd` (a file made later is read from its start). */
  async init(): Promise<void> {
    if (this.#fromEnd) await this.#open(true);
    this.#fromEnd = false;
  }

  /** The whole lines appended since the last call. */
  async read(): Promise<JournalLine[]> {
    const out: JournalLine[] = [];
    // At most: the rest of the rotated file, then the new one.
    for (let round = 0; round < 3; round += 1) {
      if (!this.#fh && !(await this.#open(false))) return out;
      await this.#drain(out);
      const st = await stat(this.file).catch((err: NodeJS.ErrnoException) => {
        // ENOENT: rotated away and the new file not made yet.
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (st && st.ino === this.#ino) {
        if (st.size >= this.#offset) return out;
        // Truncated in place (by hand): start over.
        this.#onWarning(`${this.file}: the file shrank; reading it again from its start`);
        this.#offset = 0;
        this.#reset();
        continue;
      }
      await this.#closeFile();
      if (!st) return out;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#closeFile();
  }

  async #open(atEnd: boolean): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(this.file, 'r');
    } catch (err) {
      // ENOENT: no journal (yet).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const st = await fh.stat();
    this.#fh = fh;
    this.#ino = st.ino;
    this.#offset = atEnd ? st.size : 0;
    this.#reset();
    return true;
  }

  async #closeFile(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    if (this.#buf !== '') this.#onWarning(`${this.file}: the last line is incomplete (a writer was killed mid-append); skipped`);
    this.#reset();
    await fh?.close();
  }

  #reset(): void {
    this.#buf = '';
    this.#decoder = new StringDecoder('utf8');
  }

  async #drain(out: JournalLine[]): Promise<void> {
    const chunk = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await this.#fh!.read(chunk, 0, CHUNK, this.#offset);
      if (bytesRead === 0) return;
      this.#offset += bytesRead;
      this.#buf += this.#decoder.write(chunk.subarray(0, bytesRead));
      const parts = this.#buf.split('\n');
      this.#buf = parts.pop()!;
      for (const part of parts) {
        if (part === '') continue;
        try {
          out.push(parseJournalLine(part));
        } catch (err) {
          this.#onWarning(`${this.file}: not a journal line (${(err as Error).message}); skipped`);
        }
      }
    }
  }
}
