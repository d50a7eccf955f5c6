/**
 * Temp files a killed writer left beside the snapshot (`snapshot.json.<digits>`): readers ignore
 * them, and the next writer removes them once it holds the lock.
 */
import { readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { SNAPSHOT_TEMP_RE } from '../../shared/paths.js';

/** Removes every `snapshot.json.<digits>` in `dir`; call only while holding the lock. */
export async function removeSnapshotTempFiles(dir: string, log: Logger): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!SNAPSHOT_TEMP_RE.test(name)) continue;
    // unlink removes a symlink itself, never what it points to.
    await unlink(path.join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      // ENOENT: gone meanwhile, which is all we wanted.
      if (err.code !== 'ENOENT') throw err;
    });
    log.info({ file: name }, 'removed a temp file left by a killed writer');
  }
}
