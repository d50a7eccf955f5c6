/**
 * Follows every server of a state directory (or one) for `tail`: for each, its journal and its
 * snapshot, fed to a {@link ServerTracker}.
 *
 * It watches the *directory* with chokidar (a watch on the snapshot file goes deaf after quick
 * atomic renames), re-reads a server once more `settleMs` after each event (chokidar emits no
 * trailing event for a burst, chokidar #1455), and re-reads everything every `pollMs`: that
 * also finds a state directory or server that appears later and notices a heartbeat that stops.
 * A snapshot file that did not change since it was read (same inode, size and times) is not
 * read again: only its writer is judged again. Reads of one server never overlap
 * ({@link SerialTask}), so events come out in order.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { fileKey } from '../shared/io/file-key.js';
import { JOURNAL_FILE, SERVER_ID_RE, SNAPSHOT_FILE, journalPath, snapshotPath, stateDirWatchIgnored } from '../shared/paths.js';
import { SerialTask } from '../shared/serial-task.js';
import { judgeServerState, listServerIds, readServerState, type ServerState } from '../shared/io/server-state.js';
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
  task: SerialTask;
  /** The valid snapshot last read and the {@link fileKey} of its file. */
  last: { key: string; state: ServerState } | undefined;
}

export class StateDirFollower {
  readonly stateDir: string;
  readonly #o: StateDirFollowerOptions;
  readonly #servers = new Map<string, Followed>();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | null = null;
  #started = false;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #waitingSaid = false;

  constructor(options: StateDirFollowerOptions) {
    this.#o = options;
    this.stateDir = path.resolve(options.stateDir);
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
    await this.#watch();
    this.#timer = setInterval(() => void this.#scan(), this.#o.pollMs ?? 250);
  }

  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      clearInterval(this.#timer);
      await this.#watcher?.close();
      await this.#scanning;
      await Promise.all([...this.#servers.values()].map(async (f) => {
        await f.task.close();
        await f.journal.close();
      }));
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
      task: new SerialTask(() => this.#readOnce(f), {
        settleMs: this.#o.settleMs ?? 75,
        onError: (err) => this.#o.warn(`${id}: ${(err as Error).message}`),
      }),
      last: undefined,
    };
    this.#servers.set(id, f);
    return f;
  }

  /** Starts the directory watch once the state directory exists. */
  async #watch(): Promise<void> {
    if (this.#watcher || this.#closed) return;
    const exists = await stat(this.stateDir).then((s) => s.isDirectory(), () => false);
    if (!exists) return;
    const watcher = watch(this.stateDir, {
      depth: 1,
      ignoreInitial: true,
      // Only server dirs and their snapshot and journal: never temp files or the lock.
      ignored: stateDirWatchIgnored(this.stateDir, [SNAPSHOT_FILE, JOURNAL_FILE]),
    });
    this.#watcher = watcher;
    const onPath = (p: string) => {
      const id = path.relative(this.stateDir, p).split(path.sep)[0]!;
      if (!SERVER_ID_RE.test(id) || (this.#o.serverId !== undefined && id !== this.#o.serverId)) return;
      const f = this.#servers.get(id);
      if (f) void f.task.poke();
      else void this.#scan();
    };
    watcher.on('all', (_event, p) => onPath(p));
    watcher.on('error', (err) => this.#o.warn(`watching ${this.stateDir}: ${(err as Error).message}`));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  #scan(): Promise<void> {
    this.#scanning ??= (async () => {
      try {
        await this.#watch();
        for (const id of await this.#ids()) {
          if (this.#closed) return;
          if (!this.#servers.has(id)) this.#add(id, false);
        }
        await Promise.all([...this.#servers.values()].map((f) => f.task.run()));
      } catch (err) {
        this.#o.warn((err as Error).message);
      }
    })().finally(() => {
      this.#scanning = null;
    });
    return this.#scanning;
  }

  async #readOnce(f: Followed): Promise<void> {
    if (this.#closed) return;
    // The journal first: its lines are written before the snapshot that shows them.
    f.tracker.journal(await f.journal.read());
    f.tracker.snapshot(await this.#state(f));
    f.tracker.tick();
  }

  /** The state of a server: its snapshot read again only when the file changed; its writer judged anew. */
  async #state(f: Followed): Promise<ServerState> {
    const file = snapshotPath(this.stateDir, f.tracker.serverId);
    // A file that cannot be looked at (ENOENT, or EACCES…) is read: the read says why.
    const key = await fileKey(file).catch(() => undefined);
    if (key !== undefined && f.last?.key === key) return judgeServerState(file, f.last.state.snapshot!);
    const state = await readServerState(file, f.tracker.serverId);
    f.last = key !== undefined && state.snapshot ? { key, state } : undefined;
    return state;
  }
}
