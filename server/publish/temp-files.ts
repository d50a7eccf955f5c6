/**
 * The snapshot writer's temp files. Each snapshot is written to `<server>/.tmp/` and renamed
 * over `snapshot.json` (see shared/paths.ts, TEMP_DIR): the directory is made (0700, never
 * through a link planted at its name) when the writer starts and whenever it has gone. Temp files
 * a killed writer left (`snapshot.json.<digits>`, in `.tmp/` or, from earlier builds, beside the
 * snapshot) are ignored by readers and removed by the next writer once it holds the lock.
 */
import { lstat, mkdir, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { DIR_MODE, SNAPSHOT_TEMP_RE, TEMP_DIR } from '../../shared/paths.js';
import { ownDirProblem } from '../../shared/io/state-dir.js';

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

/**
 * Makes `<serverDir>/.tmp/` a directory of ours (mode 0700) and returns its path. Whatever else
 * is at that name (a symbolic link, a file) is removed first, never followed: a temp file made
 * through a planted link would be written where the link points. Call only while holding the lock.
 */
export async function prepareTempDir(serverDir: string, log: Logger): Promise<string> {
  const dir = path.join(serverDir, TEMP_DIR);
  const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (st && !st.isDirectory()) {
    await unlink(dir);
    log.warn({ file: TEMP_DIR }, `removed a ${st.isSymbolicLink() ? 'symbolic link' : 'file'} in the place of the temp directory`);
  }
  await mkdir(dir, { mode: DIR_MODE }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const why = await ownDirProblem(dir, { notDirectory: '', owner: '' });
  if (why) throw new Error(`${dir}: ${why}`);
  return dir;
}
