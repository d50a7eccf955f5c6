/**
 * The control directory of this MCP child: `state/<serverId>/control/` holds
 * requests to it, one `<name>.json` each, written atomically by the API, the CLI or an operator.
 * At start the directory is made ours (0700) and what an earlier run left there is cleared
 * (requests older than a minute, unread; temp files of a killed writer). Then each new request
 * is picked up within a second (the directory is listed every 500 ms: no fs.watch, which would
 * cost each child an inotify instance, and a user has 128 of them for all processes together:
 * a fleet of a hundred children would run out), read as hostile input, removed, and carried out: `end-session` ends that
 * session, reason `terminated`, whatever the backend. A request that cannot be carried out is
 * removed with a warning saying why. Nothing here ever stops the MCP server: failures are logged.
 */
import { lstat, readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import {
  BadControlRequest,
  CONTROL_REQUEST_MAX_AGE_MS,
  CONTROL_REQUEST_RE,
  CONTROL_TEMP_RE,
  controlDir,
  parseControlRequest,
  type ControlRequest,
} from '../../shared/control-request.js';
import { errnoPhrase } from '../../shared/errno.js';
import { SerialTask } from '../../shared/serial-task.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import { ensureControlDir } from './ensure-control-dir.js';
import { readRequestFile, RefusedRequestFile } from './read-request-file.js';

/** What ends a session of the backend on request (McpHost, UpstreamHost). */
export interface SessionTerminator {
  /** Ends legacy session `sessionId` (reason `terminated`, `by` who asked); false when it is not open. */
  terminate(sessionId: string, by: string): boolean;
}

/** Options of a {@link ControlDirectory}. */
export interface ControlDirectoryOptions {
  stateDir: string;
  serverId: string;
  /** The connection map: whether a session is open, and of which era. */
  registry: SessionRegistry;
  /** Ends a session of the backend. */
  sessions: SessionTerminator;
  logger: Logger;
  /** How often the directory is listed. Default 500 (a request is to be carried out within 1 s). */
  pollMs?: number;
  /**
   * Requests and temp files older than this (by mtime) found at start are removed unread; a temp
   * file seen for this long since is removed too. Default 60000.
   */
  maxAgeMs?: number;
}

/**
 * A request that is not (yet) JSON and was written less than this ago is looked at again later
 * rather than refused: an operator's `echo '{…}' > control/x.json` creates the file empty and
 * fills it in a second step, and a listing may see it in between.
 */
const SETTLE_MS = 1000;

/** Names remembered (warned about once, or that could not be removed); oldest forgotten first. */
const NAMES_KEPT = 1000;

/** Adds `name` to `set`, forgetting the oldest past {@link NAMES_KEPT}. */
function remember(set: Set<string>, name: string): void {
  set.add(name);
  if (set.size > NAMES_KEPT) set.delete(set.values().next().value!);
}

/** The control directory of one child: `start()`/`close()`. */
export class ControlDirectory {
  /** The directory looked at. */
  readonly dir: string;
  readonly #o: ControlDirectoryOptions;
  readonly #log: Logger;
  readonly #maxAgeMs: number;
  readonly #task: SerialTask;
  #timer: NodeJS.Timeout | undefined;
  /** Entries that are neither requests nor temp files: warned about once each. */
  readonly #strange = new Set<string>();
  /** Requests that could not be removed: not read again (else a warning every poll). */
  readonly #stuck = new Set<string>();
  /**
   * When each name in the directory was first listed (`performance.now()`): the age of a temp
   * file or of a request not JSON yet. Not its mtime against the wall clock, which a clock step
   * moves: forward, a young temp file would be removed under its writer (whose
   * rename then fails); backward, a half-written request would wait for ever. Only names still
   * listed are kept.
   */
  readonly #firstSeen = new Map<string, number>();
  #failures = 0;
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: ControlDirectoryOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#maxAgeMs = options.maxAgeMs ?? CONTROL_REQUEST_MAX_AGE_MS;
    this.dir = controlDir(options.stateDir, options.serverId);
    this.#task = new SerialTask(() => this.#scan(), { onError: (err) => this.#failed(err) });
  }

  /**
   * Makes the directory ours, clears what an earlier run left, and starts picking requests up.
   * Rejects with a `ControlDirError` when the directory cannot be used (the caller logs it and
   * serves on without control).
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('ControlDirectory already started');
    this.#started = true;
    // Closed before it started: the directory is not made, nor what an earlier run left cleared.
    if (this.#closed) return;
    await ensureControlDir(this.dir);
    if (this.#closed) return;
    await this.#clearLeftovers();
    if (this.#closed) return;
    this.#timer = setInterval(() => void this.#task.run(), this.#o.pollMs ?? 500).unref();
    await this.#task.run();
  }

  /** Stops looking; resolves when the request under way (if any) is done. Safe to call many times. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      clearInterval(this.#timer);
      await this.#task.close();
    })();
    return this.#closePromise;
  }

  /**
   * At start: requests and temp files older than the max age, unread, by their mtime: what an
   * earlier run left. The one use of the wall clock here: there is no earlier
   * monotonic time to compare with.
   */
  async #clearLeftovers(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (this.#closed) return;
      const request = CONTROL_REQUEST_RE.test(name);
      if ((!request && !CONTROL_TEMP_RE.test(name)) || !(await this.#modifiedLongAgo(name))) continue;
      if (!(await this.#remove(name))) continue;
      if (request) this.#log.warn({ file: name, maxAgeMs: this.#maxAgeMs }, 'removed an old control request found at start, unread');
      else this.#log.warn({ file: name }, 'removed a temp file left by a killed request writer');
    }
  }

  /** Whether `name` was last modified longer than the max age ago, by the wall clock (false when it is gone). */
  async #modifiedLongAgo(name: string): Promise<boolean> {
    try {
      return Date.now() - (await lstat(path.join(this.dir, name))).mtimeMs > this.#maxAgeMs;
    } catch (err) {
      // ENOENT: gone meanwhile.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** One look at the directory: every request found is handled, in turn. */
  async #scan(): Promise<void> {
    if (this.#closed) return;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Removed under us (by hand): made again, so that requests can come in again.
      this.#log.warn({ dir: this.dir }, 'control directory was removed; creating it again');
      await ensureControlDir(this.dir);
      return;
    }
    this.#forgetGone(names);
    for (const name of names) {
      if (this.#closed) return;
      if (this.#stuck.has(name)) continue;
      if (CONTROL_REQUEST_RE.test(name)) {
        await this.#handle(name);
      } else if (CONTROL_TEMP_RE.test(name)) {
        // Young: a request being written right now. Old: its writer was killed mid-write.
        if (this.#seenFor(name) > this.#maxAgeMs && (await this.#remove(name))) this.#log.warn({ file: name }, 'removed a temp file left by a killed request writer');
      } else if (!name.startsWith('.') && !this.#strange.has(name)) {
        // Hidden files (an editor's, or an operator's before a rename into place) are not ours to judge.
        remember(this.#strange, name);
        this.#log.warn({ file: name, dir: this.dir }, 'not a control request (expected <name>.json); ignored');
      }
    }
    if (this.#failures > 0) this.#log.info({ failures: this.#failures }, 'control directory readable again');
    this.#failures = 0;
  }

  /** How long since `name` was first listed, in ms (0 the first time). */
  #seenFor(name: string): number {
    const now = performance.now();
    const first = this.#firstSeen.get(name);
    if (first === undefined) {
      this.#firstSeen.set(name, now);
      return 0;
    }
    return now - first;
  }

  /** Drops the first-seen times of names no longer listed (a name may come back as a new file). */
  #forgetGone(names: readonly string[]): void {
    if (this.#firstSeen.size === 0) return;
    const listed = new Set(names);
    for (const name of this.#firstSeen.keys()) if (!listed.has(name)) this.#firstSeen.delete(name);
  }

  /** Reads, removes and carries out the request `name`. */
  async #handle(name: string): Promise<void> {
    const file = path.join(this.dir, name);
    let request: ControlRequest;
    try {
      const read = await readRequestFile(file);
      request = parseControlRequest(read.text);
    } catch (err) {
      // ENOENT: gone meanwhile (its writer withdrew it); nothing to do.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      // Maybe still being written by a plain (not atomic) write: the poll looks again.
      if (err instanceof BadControlRequest && err.notJson && this.#seenFor(name) < SETTLE_MS) return;
      const why = err instanceof RefusedRequestFile || err instanceof BadControlRequest ? err.message : errnoPhrase(err);
      if (await this.#remove(name)) this.#log.warn({ file: name, why }, 'control request refused and removed');
      return;
    }
    // Removed before it is carried out: a request is carried out at most once.
    if (!(await this.#remove(name))) return;
    this.#carryOut(name, request);
  }

  #carryOut(name: string, request: ControlRequest): void {
    const { sessionId, by } = request;
    const c = this.#o.registry.get(sessionId);
    let why: string | undefined;
    if (!c) why = 'unknown session';
    // A modern client over a `wrap` pipe has one: its server's process.
    else if (c.era === 'modern' && c.transport !== 'stdio') why = 'a sessionless (modern) client: there is no session to end';
    else if (!this.#o.sessions.terminate(sessionId, by)) why = 'unknown session';
    if (why) {
      this.#log.warn({ file: name, action: request.action, sessionId, by, why }, 'control request not carried out; removed');
      return;
    }
    this.#log.info({ file: name, sessionId, by }, 'session ended on request');
  }

  /**
   * Removes `name` (a directory named like a request too); true when this call removed it.
   * A failure is logged once and the name is not looked at again.
   */
  async #remove(name: string): Promise<boolean> {
    const file = path.join(this.dir, name);
    try {
      await unlink(file);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: removed meanwhile, by its writer or by hand.
      if (code === 'ENOENT') return false;
      if (code === 'EISDIR' || code === 'EPERM') {
        // unlink(2) refuses directories (EISDIR on Linux, EPERM elsewhere). rm never follows
        // a link inside: only what is in our own 0700 directory goes.
        const removed = await rm(file, { recursive: true }).then(() => true, (e: unknown) => e);
        if (removed === true) return true;
        err = removed;
      }
      remember(this.#stuck, name);
      this.#log.error({ file: name, err: errnoPhrase(err) }, 'cannot remove a control request; it is ignored from now on');
      return false;
    }
  }

  #failed(err: unknown): void {
    this.#failures += 1;
    // Seen on every poll while it lasts: the first, then every 100th.
    if (this.#failures === 1 || this.#failures % 100 === 0) this.#log.error({ err: errnoPhrase(err), dir: this.dir, failures: this.#failures }, 'cannot read the control directory');
  }
}
