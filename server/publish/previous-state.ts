/**
 * What a new writer carries over from the snapshot of the previous writer of its server id:
 * the session counters that survive restarts (`sessionsTotal`, `sessionsClosed`, … of
 * shared/snapshot.ts), `operations`, `sessionDurations` and the tool `catalog`. It also ends
 * the `--command` processes that writer left behind (its `processes`: it is dead, we hold the
 * lock).
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { OPERATION_BOUNDS, operationBoundsOf, remapBuckets, type Histogram, type Operation } from '../../shared/operations.js';
import { logReaped, reapSnapshotProcesses } from '../../shared/io/process-groups.js';
import { readSnapshotFile } from '../../shared/io/read-snapshot.js';
import type { Catalog } from '../../shared/tool-catalog.js';
import { CLOSE_REASONS, noneClosed, type CloseReason, type Connection } from '../../shared/snapshot.js';
import { unseenSessions } from './unseen-sessions.js';

/** The counters a writer starts from. */
export interface PreviousState {
  /** `totalConnections` of the previous snapshot (sessions since the first start of the id). */
  totalConnections: number;
  /** `sessionsClosed` of the previous snapshot, plus its open sessions when its writer died. */
  sessionsClosed: Record<CloseReason, number>;
  /** The seq to continue from: the previous one when it was this very process, else 0. */
  seq: number;
  /** `operations` of the previous snapshot (what clients asked for since the first start), its buckets re-counted for OPERATION_BOUNDS. */
  operations?: Operation[];
  /** `sessionDurations` of the previous snapshot. */
  sessionDurations?: Histogram;
  /** `catalog` of the previous snapshot (the tools its server last listed). */
  catalog?: Catalog | null;
  /**
   * The sessions a writer that died left listed, and when it last wrote: the journal gets a
   * `disconnect` (reason `shutdown`) for each, so that a `tail -F` reader sees them end.
   */
  abandoned?: { connections: Connection[]; lastWrittenAt: string };
}

/**
 * Reads the previous snapshot at `file` (the lock must be held).
 *
 * A previous writer that did not stop cleanly (status other than `stopped`: it died or was
 * killed) never closed its `activeConnections`; they are counted here as closed with reason
 * `shutdown`, so that `totalConnections - sum(sessionsClosed)` stays the number of open sessions
 * and does not drift up with every crash.
 *
 * No snapshot (the first start of the id): zeros. A snapshot that is a symbolic link, unreadable
 * or invalid: zeros and a warning (the counters restart; nothing is read through a link).
 */
export async function loadPreviousState(file: string, log: Logger): Promise<PreviousState> {
  const state: PreviousState = { totalConnections: 0, sessionsClosed: noneClosed(), seq: 0 };
  try {
    if ((await lstat(file)).isSymbolicLink()) {
      log.warn({ file }, 'the previous snapshot is a symbolic link (not ours; it will be replaced); totalConnections starts at 0');
      return state;
    }
    const prev = await readSnapshotFile(file);
    state.totalConnections = prev.totalConnections;
    for (const r of CLOSE_REASONS) state.sessionsClosed[r] += prev.sessionsClosed?.[r] ?? 0;
    state.seq = prev.pid === process.pid ? prev.seq : 0;
    // An older writer's buckets had other bounds: re-counted as docs/state-directory.md (the snapshot schema) says.
    const bounds = operationBoundsOf(prev);
    state.operations = prev.operations?.map((op) => ({ ...op, durationSeconds: { sum: op.durationSeconds.sum, buckets: remapBuckets(op.durationSeconds.buckets, bounds, OPERATION_BOUNDS) } }));
    state.sessionDurations = prev.sessionDurations;
    state.catalog = prev.catalog;
    if (prev.status !== 'stopped') {
      // What it did after its last snapshot is in the journal only.
      const unseen = await unseenSessions(path.dirname(file), prev);
      state.totalConnections += unseen.opened;
      for (const [r, n] of Object.entries(unseen.closed)) state.sessionsClosed[r as CloseReason] += n;
      const left = [...prev.connections.filter((c) => !unseen.endedListed.has(c.sessionId)), ...unseen.open];
      state.sessionsClosed.shutdown += left.length;
      state.abandoned = { connections: left, lastWrittenAt: prev.writtenAt };
      log.warn({ previousPid: prev.pid, status: prev.status, writtenAt: prev.writtenAt, lostSessions: left.length, unseenInSnapshot: unseen.opened }, 'the previous writer did not stop cleanly; its sessions count as closed (shutdown)');
    }
    // Its --command processes may have outlived it (a stdio server that ignores stdin's end and
    // SIGTERM). Not our own: a writer of this very process lists live processes of ours.
    if (prev.pid !== process.pid) {
      // A try of its own: a reaper failure never costs the counters read above.
      try {
        logReaped(log, reapSnapshotProcesses(prev), 'ended the stdio server processes the previous writer left', { previousPid: prev.pid });
      } catch (err) {
        log.error({ err: (err as Error).message, previousPid: prev.pid }, 'ending the stdio server processes the previous writer left failed');
      }
    }
  } catch (err) {
    // ENOENT: the first start of this server id.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
    log.warn({ err: (err as Error).message }, 'previous snapshot unreadable; totalConnections starts at 0');
  }
  return state;
}
