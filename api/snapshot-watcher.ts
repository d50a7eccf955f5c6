/**
 * Keeps the latest valid snapshot of every server in the state directory.
 *
 * It watches the *directories* with chokidar (the state directory and each server's), taking
 * `<id>/snapshot.json` from their raw events: a watch on the file itself goes deaf after quick
 * atomic renames. chokidar throttles `change` on the leading
 * edge and emits no trailing event (chokidar #1455), so every event is followed by one more
 * read `settleMs` later, and every server is re-read on a slow timer as a safety net: the
 * watcher always ends on the final state. Reads of one server never overlap ({@link SerialTask}),
 * so they cannot land out of order. A lower `seq` of the same writer is never accepted; a
 * snapshot of another writer always is, whatever its clock says (see `isNewer` in
 * shared/snapshot.ts).
 */
import { EventEmitter } from 'node:events';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import { SERVER_ID_RE, SNAPSHOT_FILE, serverIdOfSnapshotPath, snapshotPath, stateDirWatchIgnored } from '../shared/paths.js';
import { fileKey } from '../shared/io/file-key.js';
import { readServerSnapshot } from '../shared/io/read-server-snapshot.js';
import { SerialTask } from '../shared/serial-task.js';
import { isNewer, type Snapshot } from '../shared/snapshot.js';
import { StateFileError } from '../shared/state-file-error.js';

export interface SnapshotWatcherOptions {
  stateDir: string;
  logger: Logger;
  /** Re-read this long after each event, to catch the end of a burst. Default 75. */
  settleMs?: number;
  /** Re-read every known server this often (and look for new ones). Default 1000. */
  rescanMs?: number;
}

/** What the watcher knows of one server. */
export interface ServerSnapshotState {
  serverId: string;
  /** The latest valid snapshot, kept while the file is invalid or missing. */
  snapshot: Snapshot | undefined;
  /** Why the current file is not usable (invalid, missing, unreadable), if it is not. */
  error: StateFileError | undefined;
  /** When the file was last read (ms). */
  readAt: number | undefined;
}

interface WatcherEvents {
  /** A newer snapshot of a server was accepted. (An unusable file is in `get(id).error`, and logged.) */
  snapshot: [snapshot: Snapshot];
  error: [err: Error];
}

interface Entry extends ServerSnapshotState {
  task: SerialTask;
  /** Identity of the file last read (see {@link keyOf}): skip the safety re-read when it did not change. */
  fileKey: string | undefined;
}

/** The key of a missing file, and of a server "directory" that is a file (ENOTDIR). */
const ABSENT = 'absent';
const NOT_A_DIR = 'not-a-directory';

export class SnapshotWatcher extends EventEmitter<WatcherEvents> {
  readonly stateDir: string;
  readonly #log: Logger;
  readonly #settleMs: number;
  readonly #rescanMs: number;
  readonly #servers = new Map<string, Entry>();
  readonly #json = new WeakMap<Snapshot, string>();
  #watcher: FSWatcher | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: SnapshotWatcherOptions) {
    super();
    this.stateDir = path.resolve(options.stateDir);
    this.#log = options.logger;
    this.#settleMs = options.settleMs ?? 75;
    this.#rescanMs = options.rescanMs ?? 1000;
  }

  /** The JSON line each kept snapshot was read from (for SSE, which sends it as is). */
  jsonOf(snapshot: Snapshot): string | undefined {
    return this.#json.get(snapshot);
  }

  /** The state of one server, if it was ever seen. */
  get(serverId: string): ServerSnapshotState | undefined {
    return this.#servers.get(serverId);
  }

  /** Every server seen in the state directory, by id. */
  list(): ServerSnapshotState[] {
    return [...this.#servers.values()].sort((a, b) => a.serverId.localeCompare(b.serverId));
  }

  get running(): boolean {
    return this.#started && !this.#closed;
  }

  /** Starts watching and reads every snapshot present; resolves once they are read. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('SnapshotWatcher already started');
    this.#started = true;
    const watcher = watch(this.stateDir, {
      depth: 1,
      ignoreInitial: true,
      // Only the state dir and the server dirs: the snapshots' changes, additions and removals
      // all come as `raw` events of their directory (below). A watch of each snapshot.json too
      // told nothing more and cost a quarter of the API's CPU per heartbeat (bench/watch-cost.ts
      // over 50 servers: 5.8 against 4.3 ms a write), re-attached after every rename.
      ignored: stateDirWatchIgnored(this.stateDir, []),
    });
    this.#watcher = watcher;
    const onPath = (p: string) => {
      const id = serverIdOfSnapshotPath(this.stateDir, p);
      if (id) this.#onEvent(id);
    };
    // Changes come from chokidar's `raw` events: every fs.watch event of a watched directory,
    // unthrottled. Its `change` event is throttled per path (50 ms, leading edge only), so a
    // write landing within 50 ms of the previous one was seen only by the settle re-read,
    // 75 ms later (bench: p50 latency 3 ms, but ~55 ms for such writes).
    watcher.on('raw', (_event, name, opts) => {
      // `name` is relative to `watchedPath` (null when the OS gives none); a raw event of the
      // watch chokidar keeps on the file itself gives `<file>/snapshot.json`, which matches nothing.
      const dir = (opts as { watchedPath?: string } | undefined)?.watchedPath;
      if (name === SNAPSHOT_FILE && dir) onPath(path.join(dir, name));
    });
    watcher.on('addDir', (p: string) => {
      const id = path.relative(this.stateDir, p);
      if (SERVER_ID_RE.test(id)) this.#onEvent(id);
    });
    watcher.on('error', (err) => this.emit('error', err as Error));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    if (this.#closed) return;
    await this.#rescan();
    this.#rescanTimer = setInterval(() => void this.#rescan(), this.#rescanMs).unref();
  }

  /** Re-reads one server now (and `settleMs` later); resolves after the first read. */
  refresh(serverId: string): Promise<void> {
    return this.#onEvent(serverId);
  }

  /** Looks for new servers and re-reads every snapshot that changed, now; resolves when done. */
  rescan(): Promise<void> {
    return this.#rescan();
  }

  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      clearInterval(this.#rescanTimer);
      await this.#watcher?.close();
      await Promise.all([...this.#servers.values()].map((e) => e.task.close()));
    })();
    return this.#closePromise;
  }

  #entry(serverId: string): Entry {
    let e = this.#servers.get(serverId);
    if (!e) {
      const entry: Entry = {
        serverId, snapshot: undefined, error: undefined, readAt: undefined, fileKey: undefined,
        task: new SerialTask(() => this.#readOnce(entry), {
          settleMs: this.#settleMs,
          // The settle re-read: skipped when the file is still the one read last (the usual case).
          onSettle: async () => {
            if (!entry.task.busy && (await this.#keyOf(serverId)) === entry.fileKey) return;
            await entry.task.run();
          },
          onError: (err) => this.emit('error', err instanceof Error ? err : new Error(String(err))),
        }),
      };
      e = entry;
      this.#servers.set(serverId, e);
    }
    return e;
  }

  #onEvent(serverId: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#entry(serverId).task.poke();
  }

  /**
   * {@link fileKey} of a server's snapshot, {@link ABSENT} when there is none, {@link NOT_A_DIR}
   * when the server "directory" is a file. Any other stat error (EACCES, ELOOP, …) gives a key of its
   * own: the read then records the error in `error` and logs it once, and a file that keeps
   * failing the same way is not read again on every rescan (D5).
   */
  #keyOf(serverId: string): Promise<string> {
    return fileKey(snapshotPath(this.stateDir, serverId)).then(
      (key) => key ?? ABSENT,
      (err: NodeJS.ErrnoException) => (err.code === 'ENOTDIR' ? NOT_A_DIR : `error:${err.code ?? err.message}`),
    );
  }

  /** Looks for server dirs the watcher has not reported and re-reads files that changed. */
  async #rescan(): Promise<void> {
    if (this.#closed) return;
    let names: string[];
    try {
      names = await readdir(this.stateDir);
    } catch (err) {
      this.emit('error', new Error(`Cannot list the state directory ${this.stateDir}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    const ids = new Set(names.filter((n) => SERVER_ID_RE.test(n)));
    for (const id of this.#servers.keys()) ids.add(id);
    await Promise.all(
      [...ids].map(async (id) => {
        const key = await this.#keyOf(id);
        // A directory without a snapshot (yet), or a file named like a server id: not a server.
        if ((key === ABSENT || key === NOT_A_DIR) && !this.#servers.has(id)) return;
        const e = this.#entry(id);
        if (key !== e.fileKey) await e.task.run();
      }),
    );
  }

  async #readOnce(e: Entry): Promise<void> {
    const file = snapshotPath(this.stateDir, e.serverId);
    const key = await this.#keyOf(e.serverId);
    let snapshot: Snapshot;
    let json: string;
    try {
      ({ snapshot, json } = await readServerSnapshot(file, e.serverId));
    } catch (err) {
      if (!(err instanceof StateFileError)) throw err;
      e.readAt = Date.now();
      e.fileKey = key;
      const changed = e.error?.message !== err.message;
      e.error = err;
      if (changed && (err.code !== 'ENOENT' || e.snapshot)) this.#log.warn({ serverId: e.serverId, err: err.message }, 'snapshot not usable; keeping the last good one');
      return;
    }
    e.readAt = Date.now();
    e.fileKey = key;
    if (e.error && e.error.code !== 'ENOENT') this.#log.info({ serverId: e.serverId }, 'snapshot valid again');
    e.error = undefined;
    if (!isNewer(snapshot, e.snapshot)) return;
    e.snapshot = snapshot;
    this.#json.set(snapshot, json);
    this.emit('snapshot', snapshot);
  }
}
