/**
 * Atomic replacement of a file that never follows a symbolic link planted in its place
 * (see state-dir.ts). write-file-atomic resolves the target with realpath and writes next to
 * the link's target; here the temp file is created with O_EXCL|O_NOFOLLOW beside the path
 * itself, and rename(2) replaces whatever is at the path (a symlink included) without following
 * it.
 */
import { randomInt } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface WriteFileNoFollowOptions {
  /** Mode of the new file. */
  mode: number;
  /** Runs after the data is on disk, before the rename; a rejection aborts the write. */
  beforeRename?: () => Promise<void>;
  /**
   * Where the temp file is made (on the same file system); default beside `file`. The snapshot
   * writer uses `<server>/.tmp/`, so its server directory changes once per write, by the rename.
   */
  tempDir?: string;
}

/**
 * Writes `data` to `<name>.<digits>` (the temp-file name readers ignore and the next writer
 * removes) beside `file` or in `tempDir`, fsyncs it and renames it over `file`. The temp file
 * is removed when anything fails.
 */
export async function writeFileNoFollow(file: string, data: string, options: WriteFileNoFollowOptions): Promise<void> {
  const tmp = path.join(options.tempDir ?? path.dirname(file), `${path.basename(file)}.${process.pid}${randomInt(1_000_000_000)}`);
  let renamed = false;
  try {
    const fh = await open(tmp, TEMP_FLAGS, options.mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await options.beforeRename?.();
    await rename(tmp, file);
    renamed = true;
  } finally {
    if (!renamed) {
      await unlink(tmp).catch((err: NodeJS.ErrnoException) => {
        // ENOENT: open itself failed, nothing was created.
        if (err.code !== 'ENOENT') throw err;
      });
    }
  }
}
