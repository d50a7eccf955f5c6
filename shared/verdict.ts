/**
 * Whether the writer of a snapshot is alive, from the outside: what `inspect`, `status` and
 * `tail` say of a server. Pure: the caller brings the liveness of the pid and of the lock.
 */
import { STALE_HEARTBEATS, snapshotAgeMs, type Snapshot } from './snapshot.js';

/**
 * - `running`: the writer is up (`starting`, `running` or `stopping`), its pid alive, its
 *   heartbeat fresh and its lock held;
 * - `stopped`: it stopped cleanly (the last snapshot says `stopped`);
 * - `stale`: it hung or died without stopping (pid gone, heartbeat late or lock not held);
 * - `invalid`: there is no usable snapshot (missing, unreadable, corrupt, foreign).
 */
export type VerdictState = 'running' | 'stopped' | 'stale' | 'invalid';

export interface Verdict {
  state: VerdictState;
  /** Since when: the start of a running writer, the stop, or the last sign of life of a stale one. */
  since: string | null;
  /** Why, in a few words each (empty when running). */
  why: string[];
}

/** What is known of the writer besides its snapshot. */
export interface WriterProbe {
  /** Whether its pid runs; undefined when that cannot be told. */
  pidAlive: boolean | undefined;
  /** The lock directory: absent, or when its holder last refreshed it (ms). */
  lockMtimeMs: number | undefined;
}

/**
 * A lock the holder has not refreshed for this long is no longer held. proper-lockfile refreshes
 * every `stale / 2` (2.5 s with the writer's 5 s); this leaves room for a busy event loop.
 */
export const LOCK_STALE_MS = 10_000;

/** The verdict on a valid snapshot. */
export function verdictOf(snapshot: Snapshot, probe: WriterProbe, now: number = Date.now()): Verdict {
  if (snapshot.status === 'stopped') return { state: 'stopped', since: snapshot.writtenAt, why: [] };
  const why: string[] = [];
  if (probe.pidAlive === false) why.push(`pid ${snapshot.pid} is not running`);
  const age = snapshotAgeMs(snapshot, now);
  if (age > STALE_HEARTBEATS * snapshot.heartbeatMs) why.push(`no heartbeat for ${formatDuration(age)} (heartbeat ${formatDuration(snapshot.heartbeatMs)})`);
  if (probe.lockMtimeMs === undefined) why.push('the lock is not held');
  else if (now - probe.lockMtimeMs > LOCK_STALE_MS) why.push(`the lock was last refreshed ${formatDuration(now - probe.lockMtimeMs)} ago`);
  if (why.length > 0) return { state: 'stale', since: snapshot.writtenAt, why };
  return { state: 'running', since: snapshot.startedAt, why: [] };
}

/**
 * Whether the writer of a `running` snapshot lives, judged by its lock first:
 * - `alive`: lock refreshed within {@link LOCK_STALE_MS} and heartbeat fresh, whatever its pid
 *   says: the pid is only a hint (pids are reused, and a container's pid means nothing in the
 *   host's pid namespace);
 * - `late`: lock fresh but heartbeat late, pid not known dead (hung, or a busy event loop);
 * - `gone`: the lock is not held or no longer refreshed, or it is late and its pid is gone.
 */
export function writerLiveness(snapshot: Snapshot, probe: WriterProbe, now: number = Date.now()): 'alive' | 'late' | 'gone' {
  const lockFresh = probe.lockMtimeMs !== undefined && now - probe.lockMtimeMs <= LOCK_STALE_MS;
  if (!lockFresh) return 'gone';
  if (snapshotAgeMs(snapshot, now) <= STALE_HEARTBEATS * snapshot.heartbeatMs) return 'alive';
  return probe.pidAlive === false ? 'gone' : 'late';
}

/** The CLI's exit code for a set of verdicts: 0 all running, 3 one stopped, 4 one stale or invalid (or none). */
export function exitCodeOf(states: readonly VerdictState[]): 0 | 3 | 4 {
  if (states.length === 0 || states.some((s) => s === 'stale' || s === 'invalid')) return 4;
  if (states.some((s) => s === 'stopped')) return 3;
  return 0;
}

/** `950ms`, `4.2s`, `3m 12s`, `5h 2m`, `2d 3h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}
