/**
 * The single-writer lock of one server id: `state/<id>/snapshot.json.lock`, a proper-lockfile
 * directory whose mtime the holder refreshes. Both the snapshot writer and the journal writer
 * depend on it: neither writes a byte unless {@link WriterLock.verify} says the lock is still
 * ours, and both stop for good on `'compromised'`.
 *
 * The lock directory's identity (inode and birth time) is remembered when it is taken. A lock
 * removed by hand, or taken over by another writer after a stall longer than `lockStaleMs`, is
 * noticed before our next write (not only at proper-lockfile's next refresh, which can come
 * seconds after a new writer started), and a lock that is not ours is never removed, not even by
 * proper-lockfile's exit handler.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { chmod, lstat, rmdir } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import type { Logger } from 'pino';
import { ensureServerDir } from '../../shared/io/state-dir.js';
import { DIR_MODE, lockPath, snapshotPath } from '../../shared/paths.js';
import { isPidAlive } from '../../shared/io/pid.js';
import { readSnapshotFile, SnapshotReadError } from '../../shared/io/read-snapshot.js';
import { isStale, type Snapshot } from '../../shared/snapshot.js';

/** Another live process holds the snapshot lock of this server id. */
export class WriterLockedError extends Error {
  readonly code = 'ELOCKED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WriterLockedError';
  }
}

/** The lock is no longer ours (removed, or taken by another writer). */
export class LockCompromisedError extends Error {
  readonly code = 'ECOMPROMISED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LockCompromisedError';
  }
}

export interface WriterLockOptions {
  stateDir: string;
  serverId: string;
  logger: Logger;
  /**
   * Pid of the previous writer of this id, known to be dead (its supervisor saw it exit).
   * If the snapshot names it and it is gone, its lock is taken over at once instead of after
   * `lockStaleMs`.
   */
  reclaimPid?: number;
  /** proper-lockfile `stale`: a lock not refreshed for this long is taken over. Default 5000. */
  lockStaleMs?: number;
  /** How long to keep retrying a held lock at start. Default `lockStaleMs` + 4000. */
  lockWaitMs?: number;
  /** Pause between two attempts while waiting. Default 250. */
  retryMs?: number;
}

interface WriterLockEvents {
  /** The lock was lost: nothing may be written under it any more. Emitted once. */
  compromised: [err: Error];
}

/** What tells our lock directory from one made later at the same path. */
interface Identity {
  dev: number;
  ino: number;
  birthtimeMs: number;
}

function sameIdentity(a: Identity, b: fs.Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.birthtimeMs === b.birthtimeMs;
}

// Not unref()ed: while the lock is awaited at start nothing else keeps the process alive.
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The lock of one server id, shared by the snapshot and journal writers; see the file comment. */
export class WriterLock extends EventEmitter<WriterLockEvents> {
  /** Path of the lock directory. */
  readonly path: string;
  /** Path of the snapshot the lock guards. */
  readonly snapshotFile: string;
  readonly #o: WriterLockOptions & { lockStaleMs: number; lockWaitMs: number; retryMs: number };
  readonly #log: Logger;
  #identity: Identity | undefined;
  #release: (() => Promise<void>) | undefined;
  #compromised: Error | undefined;
  #starting: Promise<void> | undefined;
  #closePromise: Promise<void> | undefined;

  constructor(options: WriterLockOptions) {
    super();
    const lockStaleMs = options.lockStaleMs ?? 5000;
    this.#o = { ...options, lockStaleMs, lockWaitMs: options.lockWaitMs ?? lockStaleMs + 4000, retryMs: options.retryMs ?? 250 };
    this.#log = options.logger;
    this.snapshotFile = snapshotPath(options.stateDir, options.serverId);
    this.path = lockPath(options.stateDir, options.serverId);
  }

  /** True while the lock is ours: taken, not lost, not released. */
  get held(): boolean {
    return this.#release !== undefined && this.#compromised === undefined;
  }

  /** Whether the lock was lost (`'compromised'` was emitted). */
  get compromised(): boolean {
    return this.#compromised !== undefined;
  }

  /**
   * Makes sure the server directory is ours (never a symlink), then takes the lock, waiting out a
   * stale one or a writer that is stopping, and taking it over at once from a dead writer named
   * by `reclaimPid`. Throws {@link WriterLockedError} when a live writer holds it. Resolves
   * without the lock (`held` false) when closed meanwhile.
   */
  start(): Promise<void> {
    if (this.#starting) throw new Error('WriterLock already started');
    this.#starting = this.#acquire();
    return this.#starting;
  }

  /**
   * Resolves when the lock directory is still the one we took; otherwise marks the lock lost
   * (emits `'compromised'` once) and rejects with {@link LockCompromisedError}. Other errors
   * (EIO, …) reject as they are: a write is then retried, the lock is not given up.
   */
  async verify(): Promise<void> {
    if (this.#compromised) throw this.#compromised;
    if (!this.#identity || !this.#release) throw new LockCompromisedError(`the lock ${this.path} is not held`);
    let st: fs.Stats;
    try {
      st = await lstat(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw this.#lose(new LockCompromisedError(`the lock ${this.path} was removed`, { cause: err }));
    }
    if (!sameIdentity(this.#identity, st)) throw this.#lose(new LockCompromisedError(`the lock ${this.path} was taken by another writer`));
  }

  /** Releases the lock if it is still ours. Safe to call many times. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      // Start sees #closePromise after its next attempt and stops waiting.
      await this.#starting?.catch(() => undefined);
      const release = this.#release;
      this.#release = undefined;
      if (release && !this.#compromised) {
        await release().catch((err: Error) => this.#log.warn({ err: err.message }, 'could not release the snapshot lock'));
      }
    })();
    return this.#closePromise;
  }

  async #acquire(): Promise<void> {
    const { lockStaleMs, lockWaitMs, retryMs, stateDir, serverId } = this.#o;
    await ensureServerDir(stateDir, serverId);
    await this.#reclaimFromDeadWriter();
    const deadline = Date.now() + lockWaitMs;
    let toldWaiting = false;
    for (;;) {
      if (this.#closePromise) return;
      try {
        const release = await lockfile.lock(this.snapshotFile, {
          realpath: false,
          stale: lockStaleMs,
          fs: this.#guardedFs(),
          onCompromised: (err) => this.#lose(err),
        });
        const st = await lstat(this.path);
        this.#identity = { dev: st.dev, ino: st.ino, birthtimeMs: st.birthtimeMs };
        this.#release = release;
        await chmod(this.path, DIR_MODE).catch((err: NodeJS.ErrnoException) => {
          // proper-lockfile makes the directory with the default mode; ours are 0700. It holds
          // nothing, so a file system without modes (EPERM, ENOTSUP) may keep its own.
          if (err.code !== 'EPERM' && err.code !== 'ENOTSUP') throw err;
        });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
        const holder = await this.#holder();
        // A stopping writer gives the lock back soon: wait for it (an API restart inside the
        // old child's shutdown window must not fail at once).
        const refuse = holder !== undefined && holder.status !== 'stopping';
        if (refuse || Date.now() >= deadline) {
          const who = holder !== undefined ? `pid ${holder.pid}` : 'another process';
          throw new WriterLockedError(`server id "${serverId}" is already being written by ${who} (lock ${this.path})`, { cause: err });
        }
        if (!toldWaiting) {
          toldWaiting = true;
          this.#log.info({ holderPid: holder?.pid, holderStatus: holder?.status ?? 'unknown', lock: this.path }, 'waiting for the snapshot lock');
        }
        await sleep(retryMs);
      }
    }
  }

  /**
   * proper-lockfile's own file system calls, but its `rmdir` (release, and its exit handler)
   * leaves a lock directory alone once it is not ours any more: that is another writer's lock.
   */
  #guardedFs(): typeof fs {
    const isOurs = (p: string): boolean => {
      if (p !== this.path || !this.#identity) return true; // removing a stale lock while acquiring
      try {
        return !this.#compromised && sameIdentity(this.#identity, fs.lstatSync(p));
      } catch {
        return true; // gone already: rmdir reports ENOENT, which proper-lockfile ignores
      }
    };
    return {
      ...fs,
      rmdir: ((p: string, cb: (err: NodeJS.ErrnoException | null) => void) => {
        if (isOurs(p)) fs.rmdir(p, cb);
        else cb(null);
      }) as typeof fs.rmdir,
      rmdirSync: ((p: string) => {
        if (isOurs(p)) fs.rmdirSync(p);
      }) as typeof fs.rmdirSync,
    };
  }

  #lose(err: Error): Error {
    if (this.#compromised) return this.#compromised;
    this.#compromised = err;
    this.emit('compromised', err);
    return err;
  }

  /**
   * The writer named by the current snapshot when it is alive and fresh. No holder: no snapshot
   * (ENOENT), an invalid one, a stopped or a dead or a stale writer. Any other read error is
   * thrown: it says nothing about the holder and must not pass for "none".
   */
  async #holder(): Promise<Snapshot | undefined> {
    const current = await this.#readSnapshot();
    if (!current || current.pid === process.pid || current.status === 'stopped') return undefined;
    return isPidAlive(current.pid) && !isStale(current) ? current : undefined;
  }

  /** The current snapshot; undefined when there is none or it is invalid (named list). */
  async #readSnapshot(): Promise<Snapshot | undefined> {
    try {
      return await readSnapshotFile(this.snapshotFile);
    } catch (err) {
      // ENOENT: the first start of this id. EINVALID: a torn or foreign file names no writer.
      if (err instanceof SnapshotReadError && (err.code === 'ENOENT' || err.code === 'EINVALID')) return undefined;
      throw new Error(`cannot tell who holds the lock: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Removes the lock of the dead writer `reclaimPid` at once. Only a lock that existed when that
   * writer last wrote its snapshot is its lock: one born later belongs to a third writer that has
   * taken it and not yet written (removing it would make two writers).
   */
  async #reclaimFromDeadWriter(): Promise<void> {
    const pid = this.#o.reclaimPid;
    if (pid === undefined || isPidAlive(pid)) return;
    const current = await this.#readSnapshot();
    if (current?.pid !== pid) return;
    let st: fs.Stats;
    try {
      st = await lstat(this.path);
    } catch (err) {
      // ENOENT: no lock left behind (the writer released it or it was never taken).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    // Without a birth time (some file systems), the lock's last refresh stands in for it.
    const born = st.birthtimeMs > 0 ? st.birthtimeMs : st.mtimeMs;
    if (born > Date.parse(current.writtenAt)) {
      this.#log.info({ deadPid: pid, lock: this.path }, 'the lock of the dead writer was taken by another one meanwhile; not reclaiming it');
      return;
    }
    try {
      await rmdir(this.path);
      this.#log.info({ deadPid: pid }, 'took over the snapshot lock of a dead writer');
    } catch (err) {
      // ENOENT: someone else removed it just now; the lock attempt decides who gets it.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
