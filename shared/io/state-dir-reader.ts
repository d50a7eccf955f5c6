/**
 * Follows the servers of a state directory: what the API's snapshot watcher and `tail` both do,
 * each with a {@link ServerFollower} of its own for what a read of one server means.
 *
 * It watches *directories* with chokidar ({@link StateDirWatch}: the state directory, and each
 * server's own or its temp directory) and takes the files' changes from their `raw` events: a
 * watch on the file itself goes deaf after quick atomic renames, and watching each file as well
 * told nothing more while it cost a quarter of the API's CPU per heartbeat (bench/watch-cost.ts
 * over 50 servers: 5.8 against 4.3 ms a write), re-attached after every rename. chokidar's own
 * `change` event is throttled per path (50 ms, leading edge only) and emits no trailing event for
 * a burst (https://github.com/paulmillr/chokidar/issues/1455), so every event is followed by
 * one more read `settleMs` later, and
 * every server is checked on a slow timer as a safety net, which also finds servers (and a state
 * directory) that appear later.
 *
 * Reads of one server never overlap ({@link SerialTask}), so they land in order. A check reads a
 * server again only when its snapshot file changed (same inode, size and times: {@link fileKey}),
 * unless the user needs every check to read (`readUnchanged`: `tail` judges the writer anew).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SERVER_ID_RE, snapshotPath } from '../paths.js';
import { SerialTask } from '../serial-task.js';
import { fileKey } from './file-key.js';
import { StateDirWatch } from './state-dir-watch.js';

/** What a user of the reader does for one server. */
export interface ServerFollower {
  /**
   * Reads the server's files once; never called again before the last call settled. `key` is
   * the {@link snapshotKey} taken just before: a check skips the server while it stays the same.
   */
  read(key: string): Promise<void>;
  /** Called once by the reader's `close()`, after the last read. */
  close?(): Promise<void>;
}

/** Where an error reported by `onError` came from. */
export type StateDirReaderPhase = 'watch' | 'find' | 'read';

export interface StateDirReaderOptions {
  stateDir: string;
  /**
   * Names in a server directory whose changes mean "read this server again": each server
   * directory is watched (`tail`, which follows the journal). Default none: only the snapshot's
   * writes are followed, in each server's `.tmp/` (the API; see state-dir-watch.ts).
   */
  files?: readonly string[];
  /** Only this server: others are ignored, and it is followed whether its directory exists or not. Default every server. */
  serverId?: string;
  /**
   * The ids of the servers present now that are not followed yet (`isKnown` tells which are);
   * throws when the state directory cannot be listed (reported as `find`, and nothing is read).
   */
  findServers: (isKnown: (serverId: string) => boolean) => Promise<string[]>;
  /** Makes the follower of a server found (or refreshed) for the first time. */
  open: (serverId: string) => ServerFollower;
  /** Read every server on every check and settle, even when its snapshot did not change. Default false. */
  readUnchanged?: boolean;
  /** Re-read this long after each event, to catch the end of a burst. Default 75. */
  settleMs?: number;
  /** Check every server this often (and look for new ones). Default 1000. */
  rescanMs?: number;
  /** Keep the process running while following, as chokidar's option of that name. Default true. */
  persistent?: boolean;
  /** Non-fatal errors; the reader goes on. */
  onError: (err: Error, where: { phase: StateDirReaderPhase; serverId?: string }) => void;
}

/** The key of a missing snapshot, and of a server "directory" that is a file (ENOTDIR). */
export const ABSENT_KEY = 'absent';
export const NOT_A_DIR_KEY = 'not-a-directory';

/**
 * {@link fileKey} of a server's snapshot, {@link ABSENT_KEY} when there is none,
 * {@link NOT_A_DIR_KEY} when the server "directory" is a file. Any other stat error (EACCES,
 * ELOOP, …) gives a key of its own: the read then says why, and a file that keeps failing the
 * same way is not read again on every check.
 */
export function snapshotKey(stateDir: string, serverId: string): Promise<string> {
  return fileKey(snapshotPath(stateDir, serverId)).then(
    (key) => key ?? ABSENT_KEY,
    (err: NodeJS.ErrnoException) => (err.code === 'ENOTDIR' ? NOT_A_DIR_KEY : `error:${err.code ?? err.message}`),
  );
}

/**
 * Whether a {@link snapshotKey} names one version of an existing file (a {@link fileKey}), not
 * {@link ABSENT_KEY}, {@link NOT_A_DIR_KEY} or a stat error: only such a key may stand for
 * what was read, since a file can appear (or vanish) between the key and the read.
 */
export function isFileKey(key: string): boolean {
  return key !== ABSENT_KEY && key !== NOT_A_DIR_KEY && !key.startsWith('error:');
}

/**
 * A `findServers` for readers of snapshots: the directories named like a server id that hold a
 * snapshot file (or one that cannot be looked at: the read says why).
 */
export async function findSnapshotServers(stateDir: string, isKnown: (serverId: string) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch (err) {
    throw new Error(`Cannot list the state directory ${stateDir}: ${(err as Error).message}`, { cause: err });
  }
  const ids = names.filter((n) => SERVER_ID_RE.test(n) && !isKnown(n));
  const keys = await Promise.all(ids.map((id) => snapshotKey(stateDir, id)));
  // A directory without a snapshot (yet), or a file named like a server id: not a server.
  return ids.filter((_, i) => keys[i] !== ABSENT_KEY && keys[i] !== NOT_A_DIR_KEY);
}

interface Entry {
  serverId: string;
  follower: ServerFollower;
  task: SerialTask;
  /** The {@link snapshotKey} of the last read; undefined before it. */
  key: string | undefined;
}

export class StateDirReader {
  readonly stateDir: string;
  readonly #o: StateDirReaderOptions;
  readonly #servers = new Map<string, Entry>();
  /** One check at a time; one asked for during a check runs once more after it. */
  readonly #scan: SerialTask;
  #dirWatch: StateDirWatch | undefined;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  /** Resolves when `close()` is called: ends a wait for chokidar's `ready`, which close cancels. */
  readonly #closing: Promise<void>;
  #signalClosing!: () => void;

  constructor(options: StateDirReaderOptions) {
    this.#o = options;
    this.stateDir = path.resolve(options.stateDir);
    this.#scan = new SerialTask(() => this.#scanOnce(), {
      settleMs: options.settleMs ?? 75,
      onError: (err) => this.#o.onError(asError(err), { phase: 'find' }),
    });
    this.#closing = new Promise((resolve) => (this.#signalClosing = resolve));
  }

  get running(): boolean {
    return this.#started && !this.#closed;
  }

  /** Whether the server is followed. */
  has(serverId: string): boolean {
    return this.#servers.has(serverId);
  }

  /** Starts watching and reads every server present; resolves once they are read. Twice throws. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('StateDirReader already started');
    this.#started = true;
    await this.#watch();
    if (this.#closed) return;
    await this.#scan.run();
    if (this.#closed) return;
    this.#timer = setInterval(() => void this.#scan.run(), this.#o.rescanMs ?? 1000);
    this.#holdProcess();
  }

  /** Reads one server now (and `settleMs` later), following it if it was not; resolves after the first read. */
  refresh(serverId: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#entry(serverId).task.poke();
  }

  /** Looks for new servers and checks every server now; resolves when done. */
  rescan(): Promise<void> {
    return this.#scan.run();
  }

  /** Stops watching and reading; the same promise every time. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      this.#signalClosing();
      clearInterval(this.#timer);
      await this.#dirWatch?.close();
      await this.#scan.close();
      const entries = [...this.#servers.values()];
      await Promise.all(entries.map((e) => e.task.close()));
      await Promise.all(entries.map((e) => e.follower.close?.()));
    })();
    return this.#closePromise;
  }

  /**
   * The rescan timer is unref'd: the chokidar watch keeps the process alive while it follows.
   * Until the state directory exists there is no watch, so a persistent reader holds the timer.
   */
  #holdProcess(): void {
    if ((this.#o.persistent ?? true) && !this.#dirWatch) this.#timer?.ref();
    else this.#timer?.unref();
  }

  #entry(serverId: string): Entry {
    let e = this.#servers.get(serverId);
    if (e) return e;
    const entry: Entry = {
      serverId,
      follower: this.#o.open(serverId),
      key: undefined,
      task: new SerialTask(async () => {
        const key = await snapshotKey(this.stateDir, serverId);
        await entry.follower.read(key);
        entry.key = key;
      }, {
        settleMs: this.#o.settleMs ?? 75,
        // The settle re-read: skipped when the file is still the one read last (the usual case).
        onSettle: this.#o.readUnchanged ? undefined : async () => {
          if (!entry.task.busy && (await snapshotKey(this.stateDir, serverId)) === entry.key) return;
          await entry.task.run();
        },
        onError: (err) => this.#o.onError(asError(err), { phase: 'read', serverId }),
      }),
    };
    e = entry;
    this.#servers.set(serverId, e);
    // Its `.tmp/` was there before its snapshot: watched now if its directory's appearance was too early for it.
    void this.#dirWatch?.followTemp(serverId);
    return e;
  }

  /**
   * An event of `serverId`: read it again, or look for it when it is new. A temp file's event
   * (`temp`) reads only when the snapshot changed (its creation comes before the rename), and
   * needs no settle re-read: the rename's own event comes after it, unthrottled.
   */
  #onEvent(serverId: string, via: 'file' | 'temp' | 'dir'): void {
    if (this.#closed || (this.#o.serverId !== undefined && serverId !== this.#o.serverId)) return;
    const e = this.#servers.get(serverId);
    // A new server: look for it now and once more `settleMs` later, as for a change (its
    // first file may land after the event, or before chokidar watches its directory).
    if (!e) void this.#scan.poke();
    else if (via !== 'temp' || this.#o.readUnchanged) void e.task.poke();
    else {
      void snapshotKey(this.stateDir, serverId).then((key) => {
        if (key !== e.key || e.task.busy) return e.task.run();
      });
    }
  }

  /** Starts the directory watch once the state directory exists; resolves when chokidar is ready. */
  async #watch(): Promise<void> {
    if (this.#dirWatch || this.#closed) return;
    // Any stat error (ENOENT, EACCES…) means "not yet": listing it says why, on every check.
    const isDir = await stat(this.stateDir).then((s) => s.isDirectory(), () => false);
    if (!isDir || this.#dirWatch || this.#closed) return;
    const watch = new StateDirWatch({
      stateDir: this.stateDir,
      serverFiles: this.#o.files,
      persistent: this.#o.persistent ?? true,
      onChange: (serverId, via) => this.#onEvent(serverId, via),
      // A new server directory: its files may have been written before chokidar watched it.
      onServerDir: (serverId) => this.#onEvent(serverId, 'dir'),
      onError: (err) => this.#o.onError(err, { phase: 'watch' }),
    });
    this.#dirWatch = watch;
    this.#holdProcess();
    await watch.ready(this.#closing);
  }

  /** One check: watch if not yet, follow new servers, read those whose snapshot changed (or all). */
  async #scanOnce(): Promise<void> {
    await this.#watch();
    if (this.#closed) return;
    await this.#dirWatch?.followTemps();
    const only = this.#o.serverId;
    let found: string[];
    try {
      found = only !== undefined ? [only] : await this.#o.findServers((id) => this.#servers.has(id));
    } catch (err) {
      this.#o.onError(asError(err), { phase: 'find' });
      return;
    }
    if (this.#closed) return;
    for (const id of found) this.#entry(id);
    await Promise.all([...this.#servers.values()].map(async (e) => {
      if (!this.#o.readUnchanged && (await snapshotKey(this.stateDir, e.serverId)) === e.key) return;
      await e.task.run();
    }));
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
