/**
 * A server as `GET /api/mcp/servers` lists it and `mcp-monitor status --json` prints it: one
 * JSON shape for the API (api/server-catalog.ts) and the CLI (cli/commands/status.ts), and the
 * part of it that the latest snapshot alone gives.
 */
import { countByEra } from './eras.js';
import { snapshotAgeMs, type Era, type Snapshot } from './snapshot.js';

/** One entry of `GET /api/mcp/servers`; `Status` is what its `status` may be. */
export interface ServerSummary<Status extends string = string> {
  serverId: string;
  /** The API: its supervisor's state, or `external`; the CLI: the verdict (shared/verdict.ts). */
  status: Status;
  pid: number | null;
  /** Restarts by the API's supervisor; null for a server it did not spawn, and in the CLI. */
  restarts: number | null;
  startedAt: string | null;
  heartbeatAgeMs: number | null;
  activeConnections: number;
  /** `activeConnections` by protocol era; a connection without `era` is legacy. */
  activeByEra: Record<Era, number>;
  totalConnections: number;
  mcpUrl: string | null;
  /** What the latest snapshot says of its writer. */
  snapshotStatus: Snapshot['status'] | null;
  /** The snapshot is not current: the writer hung or died, or the file is unusable. */
  stale: boolean;
  /** Why the snapshot file is unusable now (the API serves the last good one), if it is. */
  snapshotError: string | null;
}

/** The fields of a {@link ServerSummary} that the snapshot alone gives. */
export type SnapshotFacts = Pick<ServerSummary, 'startedAt' | 'heartbeatAgeMs' | 'activeConnections' | 'activeByEra' | 'totalConnections' | 'mcpUrl' | 'snapshotStatus'>;

/** What `snapshot` says for a summary at `now` (ms); zeros and nulls without a snapshot. */
export function snapshotFacts(snapshot: Snapshot | null | undefined, now: number): SnapshotFacts {
  return {
    startedAt: snapshot?.startedAt ?? null,
    heartbeatAgeMs: snapshot ? snapshotAgeMs(snapshot, now) : null,
    activeConnections: snapshot?.activeConnections ?? 0,
    activeByEra: countByEra(snapshot?.connections ?? []),
    totalConnections: snapshot?.totalConnections ?? 0,
    mcpUrl: snapshot?.mcp?.url ?? null,
    snapshotStatus: snapshot?.status ?? null,
  };
}
