/**
 * The session ids the upstream issued, as far as this child (and the ones before it, for the
 * same server id) saw: the `Mcp-Session-Id` of a 2xx answer to an `initialize` (a legacy
 * session is listed only for an id the child saw the upstream issue, remembered across its
 * restarts). Only these are adopted: listed when a request carries one the child
 * does not know (it restarted). Any other id is forwarded but never listed, so a stateless
 * upstream that answers 200 whatever the id cannot fill the registry.
 *
 * Remembered in `<stateDir>/<serverId>/upstream-sessions.json` (0600, replaced atomically and
 * never through a link): one line `{"ids":[…]}`. The snapshot cannot carry them: a clean stop
 * ends every session (reason `shutdown`) before the final `stopped` snapshot, which then lists
 * none, and the API restarts children that way. At most twice `max` (`--max-sessions`): the
 * sessions listed now (at most `max`) and as many more not listed (the oldest forgotten first),
 * so that the clients of a previous child can come back after new ones have taken the slots
 * (and get 503 until one is free, as an `initialize` does, rather than go unlisted). An id not
 * listed and not seen for `idleMs` (`--session-idle-ms`) is forgotten, as the session it was
 * would have been ended idle.
 */
import { constants } from 'node:fs';
import { open, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { FILE_MODE } from '../../../shared/paths.js';
import { writeFileNoFollow } from '../../../shared/io/write-file-no-follow.js';
import { listableSessionId } from './session-id.js';

/** The file's name in the server's directory of the state dir. */
export const ISSUED_SESSIONS_FILE = 'upstream-sessions.json';

/** Temp files of a write cut short by a kill (see shared/io/write-file-no-follow.ts). */
const TEMP_RE = /^upstream-sessions\.json\.\d+$/;

/** Bytes an id may take in the file: 256 visible-ASCII characters, quoted, a comma, some escapes. */
const BYTES_PER_ID = 300;

/** Options of {@link IssuedSessions}. */
export interface IssuedSessionsOptions {
  /** The server's directory in the state dir (`<stateDir>/<serverId>`); undefined: remembered in memory only. */
  dir: string | undefined;
  /** `--max-sessions`: at most twice this many ids are kept. */
  max: number;
  /** An id not open and not seen for this long is forgotten (`--session-idle-ms`; 0: never). */
  idleMs: number;
  /** Whether an id is a session listed now (never forgotten for room). */
  isOpen: (id: string) => boolean;
  logger: Logger;
  /** Monotonic milliseconds; default `performance.now()`. */
  clock?: () => number;
}

/** The ids one child may adopt (`load()`/`close()`). */
export class IssuedSessions {
  readonly #o: IssuedSessionsOptions;
  readonly #now: () => number;
  readonly #file: string | undefined;
  /** Id → when last issued, adopted or used (monotonic), oldest first. */
  readonly #ids = new Map<string, number>();
  #saving: Promise<void> | undefined;
  #dirty = false;
  #closed = false;
  #failedSaves = 0;

  constructor(o: IssuedSessionsOptions) {
    this.#o = o;
    this.#now = o.clock ?? (() => performance.now());
    this.#file = o.dir === undefined ? undefined : path.join(o.dir, ISSUED_SESSIONS_FILE);
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Whether `id` was issued by the upstream and is not forgotten: a request with it may list it. */
  adoptable(id: string): boolean {
    const seen = this.#ids.get(id);
    if (seen === undefined) return false;
    if (this.#o.idleMs > 0 && this.#now() - seen > this.#o.idleMs && !this.#o.isOpen(id)) {
      this.forget(id);
      return false;
    }
    return true;
  }

  /** `id` was issued (an `initialize` answer) or adopted: remembered, newest last. */
  add(id: string): void {
    if (this.#closed) return;
    this.#ids.delete(id);
    this.#ids.set(id, this.#now());
    this.#trim();
    this.#save();
  }

  /** `id` is gone upstream (DELETE accepted, 404, ended idle or on request): never adopted again. */
  forget(id: string): void {
    if (this.#closed || !this.#ids.delete(id)) return;
    this.#save();
  }

  /**
   * Reads the ids the previous children left. None (the first start): nothing. A file that is a
   * link, too large or invalid: a warning, and no id is adoptable (their sessions are forwarded,
   * unlisted, until their clients initialize anew).
   */
  async load(): Promise<void> {
    if (!this.#file) return;
    await this.#removeTempFiles();
    let text: string;
    try {
      text = await readBounded(this.#file, this.#limit * BYTES_PER_ID + 64);
    } catch (err) {
      // ENOENT: no child of this server id has seen a session yet.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#o.logger.warn({ file: this.#file, err: (err as Error).message }, 'issued upstream session ids unreadable; sessions from before this start are forwarded but not listed');
      return;
    }
    let ids: unknown;
    try {
      ids = (JSON.parse(text) as { ids?: unknown }).ids;
    } catch {
      ids = undefined;
    }
    if (!Array.isArray(ids)) {
      this.#o.logger.warn({ file: this.#file }, 'issued upstream session ids invalid; sessions from before this start are forwarded but not listed');
      return;
    }
    const now = this.#now();
    for (const id of ids.slice(-this.#limit)) if (typeof id === 'string' && listableSessionId(id)) this.#ids.set(id, now);
  }

  /** Removes what a child killed while writing left (we hold the writer lock). */
  async #removeTempFiles(): Promise<void> {
    // Unlistable: the read of the file, next, fails too and says why.
    const names = await readdir(this.#o.dir!).catch(() => [] as string[]);
    for (const name of names) {
      if (!TEMP_RE.test(name)) continue;
      // unlink removes a link itself, never its target; ENOENT: gone meanwhile, as wanted.
      await unlink(path.join(this.#o.dir!, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.#o.logger.warn({ file: name, err: err.message }, 'could not remove a temp file of the issued session ids');
      });
    }
  }

  /** Writes what is pending, then nothing more. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#saving) await this.#saving;
  }

  /** How many ids are kept at most. */
  get #limit(): number {
    return this.#o.max * 2;
  }

  /** Over the limit: the oldest ids not open are forgotten first. */
  #trim(): void {
    for (const id of this.#ids.keys()) {
      if (this.#ids.size <= this.#limit) return;
      if (!this.#o.isOpen(id)) this.#ids.delete(id);
    }
  }

  /** One write at a time; changes meanwhile are written by the next. */
  #save(): void {
    if (!this.#file) return;
    this.#dirty = true;
    if (this.#saving) return;
    this.#saving = (async () => {
      while (this.#dirty) {
        this.#dirty = false;
        const data = `${JSON.stringify({ ids: [...this.#ids.keys()] })}\n`;
        try {
          await writeFileNoFollow(this.#file!, data, { mode: FILE_MODE });
          if (this.#failedSaves > 0) this.#o.logger.info({ failedSaves: this.#failedSaves }, 'issued upstream session ids saved again');
          this.#failedSaves = 0;
        } catch (err) {
          // A full disk must not flood the log: the first failure, then every 100th.
          this.#failedSaves += 1;
          if (this.#failedSaves === 1 || this.#failedSaves % 100 === 0) this.#o.logger.error({ file: this.#file, err: (err as Error).message, failedSaves: this.#failedSaves }, 'saving the issued upstream session ids failed');
        }
      }
    })().finally(() => {
      this.#saving = undefined;
    });
  }
}

/** The text of `file`, never through a link, refused (EFBIG) when larger than `max` bytes. */
async function readBounded(file: string, max: number): Promise<string> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'EINVAL' });
    if (st.size > max) throw Object.assign(new Error(`${file} is larger than ${max} bytes`), { code: 'EFBIG' });
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}
