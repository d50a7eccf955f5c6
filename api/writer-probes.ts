/**
 * The pid and the lock of each snapshot's writer, looked at in the background every second, so
 * that the routes (which answer at once, without I/O) judge a writer as `status` and `inspect`
 * do (shared/verdict.ts): a writer killed with SIGKILL is stale within a second for both,
 * not only once its heartbeat is three beats late. `start()`/`close()`.
 */
import type { Snapshot } from '../shared/snapshot.js';
import { snapshotPath } from '../shared/paths.js';
import { probeWriter } from '../shared/io/server-state.js';
import type { WriterProbe } from '../shared/verdict.js';
import type { SnapshotWatcher } from './snapshot-watcher.js';

interface Probed {
  pid: number;
  startedAt: string;
  probe: WriterProbe;
}

export class WriterProbes {
  readonly #watcher: SnapshotWatcher;
  readonly #everyMs: number;
  readonly #probes = new Map<string, Probed>();
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: { watcher: SnapshotWatcher; everyMs?: number }) {
    this.#watcher = options.watcher;
    this.#everyMs = options.everyMs ?? 1000;
  }

  /** Looks now and every `everyMs`; twice throws, after close() does nothing. */
  start(): void {
    if (this.#timer) throw new Error('WriterProbes already started');
    if (this.#closed) return;
    this.#kick();
    this.#timer = setInterval(() => this.#kick(), this.#everyMs).unref();
  }

  /** Stops looking; resolves once a look under way has ended. The same promise every time. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#timer);
      await this.#refreshing;
    })();
    return this.#closed;
  }

  /** The last look at the writer of `snapshot`; undefined when none was taken of that writer yet. */
  probe(serverId: string, snapshot: Snapshot): WriterProbe | undefined {
    const p = this.#probes.get(serverId);
    return p && p.pid === snapshot.pid && p.startedAt === snapshot.startedAt ? p.probe : undefined;
  }

  #kick(): void {
    if (this.#refreshing || this.#closed) return;
    this.#refreshing = this.#refresh().finally(() => (this.#refreshing = undefined));
  }

  async #refresh(): Promise<void> {
    const seen = new Set<string>();
    for (const { serverId, snapshot } of this.#watcher.list()) {
      if (!snapshot || snapshot.status === 'stopped') continue;
      seen.add(serverId);
      try {
        const probe = await probeWriter(snapshotPath(this.#watcher.stateDir, serverId), snapshot);
        this.#probes.set(serverId, { pid: snapshot.pid, startedAt: snapshot.startedAt, probe });
      } catch {
        // The lock could not be looked at (EACCES, say): judged by the heartbeat alone.
        this.#probes.delete(serverId);
      }
    }
    for (const id of this.#probes.keys()) if (!seen.has(id)) this.#probes.delete(id);
  }
}
