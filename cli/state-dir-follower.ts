/**
 * Follows every server of a state directory (or one) for `tail`: for each, its journal and its
 * snapshot, fed to a {@link ServerTracker}.
 *
 * The following itself (directory watch, settle re-read, servers and a state directory that
 * appear later) is shared/io/state-dir-reader.ts, which the API uses too. `tail` reads every
 * server on every poll (`pollMs`), changed or not: its journal may have grown and its writer
 * must be judged again, to notice a heartbeat that stops. A snapshot file that did not change
 * since it was read (same inode, size and times) is not read again: only its writer is judged.
 */
import path from 'node:path';
import { JOURNAL_FILE, SNAPSHOT_FILE, journalPath, snapshotPath } from '../shared/paths.js';
import { judgeServerState, listServerIds, readServerState, type ServerState } from '../shared/io/server-state.js';
import { StateDirReader, isFileKey } from '../shared/io/state-dir-reader.js';
import { JournalFollower } from './journal-follower.js';
import { ServerTracker, type TailEvent } from './server-tracker.js';

export interface StateDirFollowerOptions {
  stateDir: string;
  /** Only this server; default every server. */
  serverId?: string;
  emit: (event: TailEvent) => void;
  /** Diagnostics (stderr). */
  warn: (message: string) => void;
  /** Re-read this long after each event. Default 75. */
  settleMs?: number;
  /** Re-read everything this often. Default 250. */
  pollMs?: number;
}

interface Followed {
  tracker: ServerTracker;
  journal: JournalFollower;
  /** The valid snapshot last read and the `snapshotKey` of its file (shared/io/state-dir-reader.ts). */
  last: { key: string; state: ServerState } | undefined;
}

export class StateDirFollower {
  readonly stateDir: string;
  readonly #o: StateDirFollowerOptions;
  readonly #reader: StateDirReader;
  /** Every server followed; those of the first pass are made before the reader starts. */
  readonly #servers = new Map<string, Followed>();
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #waitingSaid = false;

  constructor(options: StateDirFollowerOptions) {
    this.#o = options;
    this.stateDir = path.resolve(options.stateDir);
    this.#reader = new StateDirReader({
      stateDir: this.stateDir,
      files: [SNAPSHOT_FILE, JOURNAL_FILE],
      serverId: options.serverId,
      readUnchanged: true,
      settleMs: options.settleMs ?? 75,
      rescanMs: options.pollMs ?? 250,
      findServers: async (isKnown) => (await this.#ids()).filter((id) => !isKnown(id)),
      open: (id) => {
        const f = this.#servers.get(id) ?? this.#add(id, false);
        return { read: (key) => this.#readOnce(f, key), close: () => f.journal.close() };
      },
      onError: (err, where) => {
        if (where.phase === 'watch') this.#o.warn(`watching ${this.stateDir}: ${err.message}`);
        else if (where.serverId !== undefined) this.#o.warn(`${where.serverId}: ${err.message}`);
        else this.#o.warn(err.message);
      },
    });
  }

  /** Reads the current state of every server (one `state` event each), then follows them. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('StateDirFollower already started');
    this.#started = true;
    for (const id of await this.#ids()) {
      const f = this.#add(id, true);
      await f.journal.init();
      const state = await readServerState(snapshotPath(this.stateDir, id), id);
      if (this.#closed) return;
      if (!state.snapshot && this.#o.serverId !== undefined && /no such file/.test(state.error ?? '')) {
        this.#o.warn(`waiting for ${state.file} to appear`);
        this.#waitingSaid = true;
        continue;
      }
      f.tracker.initial(state);
    }
    if (this.#closed) return;
    await this.#reader.start();
  }

  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      await this.#reader.close();
      // The servers of the first pass that the reader never took over (closed before it started).
      await Promise.all([...this.#servers.entries()].filter(([id]) => !this.#reader.has(id)).map(([, f]) => f.journal.close()));
    })();
    return this.#closePromise;
  }

  async #ids(): Promise<string[]> {
    if (this.#o.serverId !== undefined) return [this.#o.serverId];
    try {
      return await listServerIds(this.stateDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw err;
      if (!this.#waitingSaid) this.#o.warn(`${this.stateDir}: no such directory yet; waiting for it to appear`);
      this.#waitingSaid = true;
      return [];
    }
  }

  #add(id: string, atStart: boolean): Followed {
    const f: Followed = {
      tracker: new ServerTracker({ serverId: id, emit: this.#o.emit }),
      // At start, follow from the end (the state says the rest); a server found later is new: all of it.
      journal: new JournalFollower(journalPath(this.stateDir, id), { fromEnd: atStart, onWarning: this.#o.warn }),
      last: undefined,
    };
    this.#servers.set(id, f);
    return f;
  }

  async #readOnce(f: Followed, key: string): Promise<void> {
    if (this.#closed) return;
    // The journal first: its lines are written before the snapshot that shows them.
    f.tracker.journal(await f.journal.read());
    f.tracker.snapshot(await this.#state(f, key));
    f.tracker.tick();
  }

  /** The state of a server: its snapshot read again only when the file changed; its writer judged anew. */
  async #state(f: Followed, key: string): Promise<ServerState> {
    const file = snapshotPath(this.stateDir, f.tracker.serverId);
    if (f.last?.key === key) return judgeServerState(file, f.last.state.snapshot!);
    // A file that cannot be looked at (ENOENT, or EACCES…) is read: the read says why. Its key
    // stands for no version of the file, so what the read found is not kept under it.
    const state = await readServerState(file, f.tracker.serverId);
    f.last = isFileKey(key) && state.snapshot ? { key, state } : undefined;
    return state;
  }
}
