/**
 * What the files of one server say, read from the state directory for the CLI (and, for the
 * probe of a writer, the API): the snapshot (or why there is none usable), the probe of its
 * writer and the verdict.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isPidAlive } from './pid.js';
import { JOURNAL_FILE, LOCK_SUFFIX, SERVER_ID_RE, SNAPSHOT_FILE } from '../paths.js';
import type { Snapshot } from '../snapshot.js';
import { StateFileError } from '../state-file-error.js';
import { verdictOf, type Verdict, type WriterProbe } from '../verdict.js';
import { readServerSnapshot } from './read-server-snapshot.js';

export interface ServerState {
  serverId: string;
  /** The snapshot file. */
  file: string;
  snapshot: Snapshot | null;
  /** Why there is no usable snapshot (names the file), when there is none. */
  error: string | null;
  verdict: Verdict;
  probe: WriterProbe | null;
}

/** Looks at the pid and the lock of the writer of `snapshot`, which lives at `file`. */
export async function probeWriter(file: string, snapshot: Snapshot): Promise<WriterProbe> {
  const lockMtimeMs = await stat(file + LOCK_SUFFIX).then(
    (st) => st.mtimeMs,
    (err: NodeJS.ErrnoException) => {
      // ENOENT: no lock, nobody holds it.
      if (err.code === 'ENOENT') return undefined;
      throw err;
    },
  );
  return { pidAlive: isPidAlive(snapshot.pid), lockMtimeMs };
}

/**
 * Reads a snapshot file and judges its writer. `serverId` is expected of the file when given
 * (a snapshot in the directory of another id is invalid). Never throws for a bad file.
 */
export async function readServerState(file: string, serverId?: string, now: () => number = Date.now): Promise<ServerState> {
  const id = serverId ?? path.basename(path.dirname(file));
  let snapshot: Snapshot;
  try {
    ({ snapshot } = await readServerSnapshot(file, serverId));
  } catch (err) {
    if (!(err instanceof StateFileError)) throw err;
    return { serverId: id, file, snapshot: null, error: err.message, verdict: { state: 'invalid', since: null, why: [err.message] }, probe: null };
  }
  return judgeServerState(file, snapshot, now);
}

/**
 * Judges the writer of a snapshot already read from `file` (a reader that knows the file did
 * not change since: `tail`). Never throws for a lock it cannot look at: that is the verdict.
 */
export async function judgeServerState(file: string, snapshot: Snapshot, now: () => number = Date.now): Promise<ServerState> {
  let probe: WriterProbe;
  try {
    probe = await probeWriter(file, snapshot);
  } catch (err) {
    const message = `${file}${LOCK_SUFFIX}: ${(err as Error).message}`;
    return { serverId: snapshot.serverId, file, snapshot, error: message, verdict: { state: 'invalid', since: null, why: [message] }, probe: null };
  }
  return { serverId: snapshot.serverId, file, snapshot, error: null, verdict: verdictOf(snapshot, probe, now()), probe };
}

/**
 * The server ids in a state directory: sub-directories named like an id that hold a snapshot or
 * a journal. Throws the fs error when the directory cannot be listed.
 */
export async function listServerIds(stateDir: string): Promise<string[]> {
  const entries = await readdir(stateDir, { withFileTypes: true });
  const ids: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || !SERVER_ID_RE.test(e.name)) continue;
    const names = await readdir(path.join(stateDir, e.name)).catch((err: NodeJS.ErrnoException) => {
      // A server dir we may not read is still a server: its snapshot read will say why.
      if (err.code === 'EACCES' || err.code === 'EPERM') return [SNAPSHOT_FILE];
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    if (names.includes(SNAPSHOT_FILE) || names.includes(JOURNAL_FILE)) ids.push(e.name);
  }
  return ids.sort();
}
