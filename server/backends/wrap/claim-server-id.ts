/**
 * The server id a wrapper publishes under: `base`, or `base-2`, `base-3`, … when a live writer
 * holds it (two clients running the same server are two servers). The id of a writer that
 * stopped or died is taken over, so its journal and totals go on and ids do not pile up: a dead
 * writer's lock is taken at once (WriterLock `reclaimPid`), not after it went stale.
 */
import type { Logger } from 'pino';
import { snapshotPath } from '../../../shared/paths.js';
import { isPidAlive } from '../../../shared/io/pid.js';
import { readSnapshotFile } from '../../../shared/io/read-snapshot.js';
import { ensureServerDir } from '../../../shared/io/state-dir.js';
import { WriterLock, WriterLockedError } from '../../publish/writer-lock.js';
import { numberedServerId } from './wrap-server-id.js';

/** Ids tried at most (`base` … `base-100`). */
const MAX_TRIES = 100;

/** The pid of the writer the snapshot of `serverId` names, when that process is gone. */
async function deadWriterPid(stateDir: string, serverId: string): Promise<number | undefined> {
  const snap = await readSnapshotFile(snapshotPath(stateDir, serverId)).catch(() => undefined);
  return snap && snap.pid !== process.pid && !isPidAlive(snap.pid) ? snap.pid : undefined;
}

/** What {@link claimServerId} got: the id and its lock, held. */
export interface ClaimedId {
  serverId: string;
  lock: WriterLock;
}

/**
 * Takes the lock of the first id of `base` with no live writer. Undefined when `signal` aborted
 * meanwhile (the relay ended: nothing is to be published any more). Throws when the state
 * directory fails (UsageError for a server directory that is not ours) or every id is held.
 */
export async function claimServerId(o: { stateDir: string; base: string; logger: Logger; signal?: AbortSignal }): Promise<ClaimedId | undefined> {
  for (let n = 1; n <= MAX_TRIES; n += 1) {
    if (o.signal?.aborted) return undefined;
    const serverId = numberedServerId(o.base, n);
    await ensureServerDir(o.stateDir, serverId);
    const lock = new WriterLock({ stateDir: o.stateDir, serverId, logger: o.logger.child({ component: 'writer-lock', serverId }), reclaimPid: await deadWriterPid(o.stateDir, serverId) });
    const abort = () => void lock.close();
    o.signal?.addEventListener('abort', abort, { once: true });
    try {
      await lock.start();
      if (lock.held) return { serverId, lock };
      return undefined;
    } catch (err) {
      await lock.close();
      if (!(err instanceof WriterLockedError)) throw err;
      o.logger.info({ serverId, err: err.message }, 'server id held by a live writer; trying the next');
    } finally {
      o.signal?.removeEventListener('abort', abort);
    }
  }
  throw new Error(`server ids ${o.base} to ${numberedServerId(o.base, MAX_TRIES)} are all held by live writers`);
}
