/**
 * Where things live in the state directory. Pure functions.
 *
 * ```
 * state/<serverId>/snapshot.json        the latest snapshot, replaced atomically
 * state/<serverId>/snapshot.json.lock   held by the live writer (proper-lockfile)
 * state/<serverId>/events.jsonl         append-only journal
 * state/<serverId>/calls.jsonl          the calls journal: one line per request a client made
 * state/<serverId>/.tmp/                where the snapshot writer makes its temp files
 * ```
 */
import path from 'node:path';

export const SNAPSHOT_FILE = 'snapshot.json';
export const LOCK_SUFFIX = '.lock';
export const JOURNAL_FILE = 'events.jsonl';
export const CALLS_FILE = 'calls.jsonl';

/**
 * The snapshot writer's temp directory in each server directory: a snapshot is written there
 * and renamed over `snapshot.json`, so the API can follow the writes by watching this nearly
 * empty directory instead of the server's, where the journals grow on every request.
 */
export const TEMP_DIR = '.tmp';

/** Mode of every directory the project creates: client IPs are personal data. */
export const DIR_MODE = 0o700;
/** Mode of every file the project creates. */
export const FILE_MODE = 0o600;

/** A valid server id: `[A-Za-z0-9_-]{1,64}`. */
export const SERVER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Temp files the snapshot writer leaves in {@link TEMP_DIR} (earlier builds: beside the
 * snapshot) when it is killed mid-write: `snapshot.json.<digits>`. Exact on
 * purpose: a looser match would take `snapshot.json.lock`.
 */
export const SNAPSHOT_TEMP_RE = /^snapshot\.json\.\d+$/;

export function serverDir(stateDir: string, serverId: string): string {
  return path.join(stateDir, serverId);
}

export function snapshotPath(stateDir: string, serverId: string): string {
  return path.join(stateDir, serverId, SNAPSHOT_FILE);
}

export function tempDirPath(stateDir: string, serverId: string): string {
  return path.join(stateDir, serverId, TEMP_DIR);
}

export function lockPath(stateDir: string, serverId: string): string {
  return snapshotPath(stateDir, serverId) + LOCK_SUFFIX;
}

export function journalPath(stateDir: string, serverId: string): string {
  return path.join(stateDir, serverId, JOURNAL_FILE);
}

export function callsPath(stateDir: string, serverId: string): string {
  return path.join(stateDir, serverId, CALLS_FILE);
}
