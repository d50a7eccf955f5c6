/**
 * Keeps the latest valid snapshot of every server in the state directory.
 *
 * The following itself (directory watch, settle re-read, rescan, servers that appear later) is
 * shared/io/state-dir-reader.ts, which `tail` uses too; this file is what a read means for the
 * API. It follows the writers' temp directories, so a snapshot replaced by anything else (by
 * hand, or by a writer of an earlier build) is seen at the next check, within `rescanMs`. A lower `seq` of the same writer is never accepted; a snapshot of another writer always
 * is, whatever its clock says (see `isNewer` in shared/snapshot.ts). An invalid or missing file
 * never replaces the last good snapshot.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
import { snapshotPath } from '../shared/paths.js';
import { readServerSnapshot } from '../shared/io/read-server-snapshot.js';
import { StateDirReader, findSnapshotServers } from '../shared/io/state-dir-reader.js';
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

export class SnapshotWatcher extends EventEmitter<WatcherEvents> {
  readonly stateDir: string;
  readonly #log: Logger;
  readonly #reader: StateDirReader;
  readonly #servers = new Map<string, ServerSnapshotState>();
  readonly #json = new WeakMap<Snapshot, string>();
  #started = false;

  constructor(options: SnapshotWatcherOptions) {
    super();
    this.stateDir = path.resolve(options.stateDir);
    this.#log = options.logger;
    this.#reader = new StateDirReader({
      stateDir: this.stateDir,
      // No `files`: the writer's temp directories are watched, not the server directories.
      settleMs: options.settleMs ?? 75,
      rescanMs: options.rescanMs ?? 1000,
      findServers: (isKnown) => findSnapshotServers(this.stateDir, isKnown),
      open: (serverId) => {
        const state: ServerSnapshotState = { serverId, snapshot: undefined, error: undefined, readAt: undefined };
        this.#servers.set(serverId, state);
        return { read: () => this.#readOnce(state) };
      },
      onError: (err) => this.emit('error', err),
    });
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
    return this.#reader.running;
  }

  /** Starts watching and reads every snapshot present; resolves once they are read. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('SnapshotWatcher already started');
    this.#started = true;
    await this.#reader.start();
  }

  /** Re-reads one server now (and `settleMs` later); resolves after the first read. */
  refresh(serverId: string): Promise<void> {
    return this.#reader.refresh(serverId);
  }

  /** Looks for new servers and re-reads every snapshot that changed, now; resolves when done. */
  rescan(): Promise<void> {
    return this.#reader.rescan();
  }

  close(): Promise<void> {
    return this.#reader.close();
  }

  async #readOnce(e: ServerSnapshotState): Promise<void> {
    const file = snapshotPath(this.stateDir, e.serverId);
    let snapshot: Snapshot;
    let json: string;
    try {
      ({ snapshot, json } = await readServerSnapshot(file, e.serverId));
    } catch (err) {
      if (!(err instanceof StateFileError)) throw err;
      e.readAt = Date.now();
      const changed = e.error?.message !== err.message;
      e.error = err;
      if (changed && (err.code !== 'ENOENT' || e.snapshot)) this.#log.warn({ serverId: e.serverId, err: err.message }, 'snapshot not usable; keeping the last good one');
      return;
    }
    e.readAt = Date.now();
    if (e.error && e.error.code !== 'ENOENT') this.#log.info({ serverId: e.serverId }, 'snapshot valid again');
    e.error = undefined;
    if (!isNewer(snapshot, e.snapshot)) return;
    e.snapshot = snapshot;
    this.#json.set(snapshot, json);
    this.emit('snapshot', snapshot);
  }
}
