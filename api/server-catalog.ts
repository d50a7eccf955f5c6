/**
 * Every server the API knows, spawned or found in the state directory, as the routes show it:
 * the watcher's latest snapshot joined with the supervisor's view of the child.
 */
import { operationBoundsOf, type Operation } from '../shared/operations.js';
import type { Catalog } from '../shared/tool-catalog.js';
import { snapshotFacts, type ServerSummary as Summary } from '../shared/server-summary.js';
import { isStale, type Snapshot } from '../shared/snapshot.js';
import { verdictOf } from '../shared/verdict.js';
import type { ChildState, ChildSupervisor } from './child-supervisor.js';
import type { SnapshotWatcher } from './snapshot-watcher.js';
import type { WriterProbes } from './writer-probes.js';

/** Supervisor state, or `external` for a server this API did not spawn. */
export type ServerStatus = ChildState | 'external';

/** One entry of `GET /api/mcp/servers` (shared/server-summary.ts). */
export type ServerSummary = Summary<ServerStatus>;

export interface ServerView {
  serverId: string;
  supervisor: ChildSupervisor | undefined;
  snapshot: Snapshot | undefined;
  snapshotError: string | undefined;
  stale: boolean;
}

export class ServerCatalog {
  readonly defaultServerId: string;
  readonly #watcher: SnapshotWatcher;
  readonly #supervisors: ReadonlyMap<string, ChildSupervisor>;
  readonly #probes: WriterProbes | undefined;

  /** `probes`: the writers' pids and locks, for the verdict of shared/verdict.ts; without, the heartbeat alone. */
  constructor(options: { watcher: SnapshotWatcher; supervisors: ReadonlyMap<string, ChildSupervisor>; defaultServerId: string; probes?: WriterProbes }) {
    this.#watcher = options.watcher;
    this.#supervisors = options.supervisors;
    this.#probes = options.probes;
    this.defaultServerId = options.defaultServerId;
  }

  get watcherRunning(): boolean {
    return this.#watcher.running;
  }

  supervisors(): ChildSupervisor[] {
    return [...this.#supervisors.values()];
  }

  ids(): string[] {
    const ids = new Set<string>(this.#supervisors.keys());
    for (const s of this.#watcher.list()) if (s.snapshot || s.error?.code !== 'ENOENT') ids.add(s.serverId);
    return [...ids].sort();
  }

  /** The view of one server, or undefined when it is neither spawned nor in the state directory. */
  view(serverId: string, now = Date.now()): ServerView | undefined {
    const supervisor = this.#supervisors.get(serverId);
    const state = this.#watcher.get(serverId);
    if (!supervisor && !state?.snapshot && (!state?.error || state.error.code === 'ENOENT')) return undefined;
    const snapshot = state?.snapshot;
    const snapshotError = state?.error?.message;
    let stale = snapshot ? this.#stale(serverId, snapshot, now) : false;
    // The supervisor knows before the clock does: its child is not the one that wrote this.
    if (snapshot && supervisor && snapshot.status !== 'stopped' && (supervisor.state !== 'running' || supervisor.pid !== snapshot.pid)) stale = true;
    if (snapshotError && snapshot) stale = true;
    return { serverId, supervisor, snapshot, snapshotError, stale };
  }

  /** The CLI's verdict when the writer was looked at, else its heartbeat's. */
  #stale(serverId: string, snapshot: Snapshot, now: number): boolean {
    const probe = this.#probes?.probe(serverId, snapshot);
    return probe ? verdictOf(snapshot, probe, now).state === 'stale' : isStale(snapshot, now);
  }

  summary(view: ServerView, now = Date.now()): ServerSummary {
    const { snapshot, supervisor } = view;
    return {
      serverId: view.serverId,
      status: supervisor ? supervisor.state : 'external',
      pid: supervisor ? (supervisor.pid ?? null) : (snapshot?.pid ?? null),
      restarts: supervisor ? supervisor.restarts : null,
      ...snapshotFacts(snapshot, now),
      stale: view.stale,
      snapshotError: view.snapshotError ?? null,
    };
  }

  summaries(now = Date.now()): ServerSummary[] {
    return this.ids().flatMap((id) => {
      const v = this.view(id, now);
      return v ? [this.summary(v, now)] : [];
    });
  }
}

/** What `GET /api/mcp/connections` returns for a server with a snapshot. */
export interface ConnectionStats {
  serverId: string;
  activeConnections: number;
  totalConnections: number;
  connections: NonNullable<ServerView['snapshot']>['connections'];
  lastUpdated: string;
  seq: number;
  pid: number;
  status: NonNullable<ServerView['snapshot']>['status'];
  writtenAt: string;
  stale: boolean;
  snapshotError: string | null;
  /** What clients asked for (the snapshot's `operations`), null from an older writer: the dashboard's operations table. */
  operations: Operation[] | null;
  /** The bounds of the `operations` buckets (the snapshot's `operationBounds`, or the legacy ones). */
  operationBounds: readonly number[];
  /** What the server is (`--entry`, `--upstream`, `--command`) and, for an upstream, whether it answers; null from an older writer. */
  backend: NonNullable<ServerView['snapshot']>['backend'] | null;
  /** The server's tools as its last `tools/list` answer showed them (the snapshot's `catalog`), null until then or from an older writer: the dashboard's Tools view. */
  catalog: Catalog | null;
}

/** The stats of a view, or undefined when it has no valid snapshot yet (REST answers 503). */
export function connectionStats(view: ServerView): ConnectionStats | undefined {
  const s = view.snapshot;
  if (!s) return undefined;
  return {
    serverId: s.serverId,
    activeConnections: s.activeConnections,
    totalConnections: s.totalConnections,
    connections: s.connections,
    lastUpdated: s.lastUpdated,
    seq: s.seq,
    pid: s.pid,
    status: s.status,
    writtenAt: s.writtenAt,
    stale: view.stale,
    snapshotError: view.snapshotError ?? null,
    operations: s.operations ?? null,
    operationBounds: operationBoundsOf(s),
    backend: s.backend ?? null,
    catalog: s.catalog ?? null,
  };
}
