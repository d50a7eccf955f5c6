/**
 * Follows one journal file (the event journal, or any journal rotated alike: the calls journal)
 * like `tail -F`: keeps its handle open, reads what was appended since
 * the last call, and when the file was rotated (a new inode under the name) finishes the old
 * file, then reads the rotated files written since (`events.<n>.jsonl` whose inodes it has not
 * read, oldest first: several rotations may land between two calls), then the new current
 * file from its start. Only whole lines come out; a torn line (a killed writer's) turns into a
 * warning when the next writer ends it.
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { parseJournalLine, tornLineWarning, type JournalLine } from '../shared/journal.js';
import { EVENT_JOURNAL, type JournalNames } from '../shared/journal-names.js';

export interface JournalFollowerOptions<L> {
  /** Skip what the file holds when `init()` runs (follow from now on). Default false. */
  fromEnd?: boolean;
  /** Begin with the oldest rotated file there is, then the newer ones, then the current file (the whole journal). Default false: the current file only. */
  fromOldest?: boolean;
  onWarning: (message: string) => void;
  /** The names of the journal's files. Default the event journal's (`events.jsonl`, `events.<n>.jsonl`). */
  names?: JournalNames;
  /** Parses one line (throws for a bad one, which is skipped with a warning). Default the event journal's. */
  parse?: (text: string) => L;
  /** What a line is called in warnings. Default `journal line`. */
  lineName?: string;
}

const CHUNK = 64 * 1024;
/** Identities of files read to their end that are remembered (rotation keeps a handful). */
const DONE_KEPT = 256;
/** At most this many files are finished in one `read()` (rotations by the dozen between two polls are not). */
const MAX_FILES_PER_READ = 64;

/** A file's identity across renames: its inode, and its birth time against inode reuse. */
function identityOf(st: { ino: bigint; birthtimeNs: bigint }): string {
  return `${st.ino}:${st.birthtimeNs}`;
}

export class JournalFollower<L = JournalLine> {
  readonly file: string;
  readonly #onWarning: (message: string) => void;
  readonly #names: JournalNames;
  readonly #parse: (text: string) => L;
  readonly #lineName: string;
  #fromEnd: boolean;
  #fh: FileHandle | undefined;
  /** The file being read: its identity and name when opened (for warnings), and whether it is a rotated file. */
  #cur: { id: string; name: string; rotated: boolean } | undefined;
  /** The identity of the last file read (kept after it is closed): where the next one starts. */
  #last: string | undefined;
  readonly #done = new Set<string>();
  #offset = 0;
  #buf = '';
  #decoder = new StringDecoder('utf8');

  constructor(file: string, options: JournalFollowerOptions<L>) {
    this.file = file;
    this.#fromEnd = options.fromEnd ?? false;
    this.#onWarning = options.onWarning;
    this.#names = options.names ?? EVENT_JOURNAL;
    this.#parse = options.parse ?? (parseJournalLine as unknown as (text: string) => L);
    this.#lineName = options.lineName ?? 'journal line';
    // An identity no file has: every rotated file is then newer than "the last one read".
    if (options.fromOldest) this.#last = '';
  }

  /** Positions at the end of the file when `fromEnd` (a file made later is read from its start). */
  async init(): Promise<void> {
    if (this.#fromEnd) await this.#openAt(this.file, false, true);
    this.#fromEnd = false;
  }

  /**
   * The whole lines appended since the last call. With `limit`, it returns once it has about that
   * many (a chunk's worth more at most), and the next call goes on from there.
   */
  async read(limit = Infinity): Promise<L[]> {
    const out: L[] = [];
    for (let round = 0; round < MAX_FILES_PER_READ; round += 1) {
      if (!this.#fh && !(await this.#openNext())) return out;
      await this.#drain(out, limit);
      if (out.length >= limit) return out;
      if (this.#cur!.rotated) {
        // A rotated file gets no more lines: done with it.
        await this.#closeFile();
        continue;
      }
      const st = await stat(this.file, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
        // ENOENT: rotated away and the new file not made yet.
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (st && identityOf(st) === this.#cur!.id) {
        if (st.size >= BigInt(this.#offset)) return out;
        // Truncated in place (by hand): start over.
        this.#onWarning(`${this.file}: the file shrank; reading it again from its start`);
        this.#offset = 0;
        this.#reset();
        continue;
      }
      // Rotated: what it held up to now is read; what came after is in the files to come.
      await this.#closeFile();
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#closeFile();
  }

  /**
   * Opens the file that follows the last one read: a rotated file not read yet, newer than the
   * last one (oldest first), else the current file. False when there is nothing to open.
   */
  async #openNext(): Promise<boolean> {
    if (this.#last !== undefined) {
      const rotated = await this.#rotatedFiles();
      const at = rotated.findIndex((r) => r.id === this.#last);
      // Not found: the last file read was rotated away for good; every rotated file is newer.
      for (const r of rotated.slice(at + 1)) {
        if (this.#done.has(r.id)) continue;
        // The name may hold another file by now (one more rotation): only the expected one will do.
        if (await this.#openAt(r.file, true, false, r.id)) return true;
      }
    }
    return this.#openAt(this.file, false, false);
  }

  /** The rotated files beside the journal, oldest first, with their identities. */
  async #rotatedFiles(): Promise<{ file: string; id: string }[]> {
    const dir = path.dirname(this.file);
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      // ENOENT: the server directory is gone; nothing rotated to read.
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const files: { file: string; id: string }[] = [];
    for (const name of this.#names.oldestFirst(names)) {
      if (name === this.#names.current) continue;
      const file = path.join(dir, name);
      try {
        files.push({ file, id: identityOf(await stat(file, { bigint: true })) });
      } catch (err) {
        // ENOENT: rotated on (or away) since the listing; the next file in line is still there.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return files;
  }

  /** Opens `file` (at its end when `atEnd`); with `expected`, only if it is still that file. */
  async #openAt(file: string, rotated: boolean, atEnd: boolean, expected?: string): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      // ENOENT: no journal (yet), or a rotated file gone since it was listed.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    const st = await fh.stat({ bigint: true });
    const id = identityOf(st);
    if ((expected !== undefined && id !== expected) || (!rotated && this.#done.has(id))) {
      // Not the file expected, or the current file already read to its end (no new file yet).
      await fh.close();
      return false;
    }
    this.#fh = fh;
    this.#cur = { id, name: file, rotated };
    this.#last = id;
    this.#offset = atEnd ? Number(st.size) : 0;
    this.#reset();
    return true;
  }

  async #closeFile(): Promise<void> {
    const fh = this.#fh;
    const cur = this.#cur;
    this.#fh = undefined;
    this.#cur = undefined;
    if (cur) {
      if (this.#buf !== '') this.#onWarning(tornLineWarning(cur.name));
      this.#done.add(cur.id);
      if (this.#done.size > DONE_KEPT) this.#done.delete(this.#done.values().next().value!);
    }
    this.#reset();
    await fh?.close();
  }

  #reset(): void {
    this.#buf = '';
    this.#decoder = new StringDecoder('utf8');
  }

  async #drain(out: L[], limit: number): Promise<void> {
    const chunk = Buffer.alloc(CHUNK);
    while (out.length < limit) {
      const { bytesRead } = await this.#fh!.read(chunk, 0, CHUNK, this.#offset);
      if (bytesRead === 0) return;
      this.#offset += bytesRead;
      this.#buf += this.#decoder.write(chunk.subarray(0, bytesRead));
      const parts = this.#buf.split('\n');
      this.#buf = parts.pop()!;
      for (const part of parts) {
        if (part === '') continue;
        try {
          out.push(this.#parse(part));
        } catch (err) {
          this.#onWarning(`${this.#cur!.name}: not a ${this.#lineName} (${(err as Error).message}); skipped`);
        }
      }
    }
  }
}
