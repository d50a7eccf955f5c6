/**
 * Making sure the state directory is usable at start, so a bad `--state-dir` fails with exit 2
 * and one line instead of a write error later.
 */
import { access, constants, mkdir, stat } from 'node:fs/promises';
import { DIR_MODE } from './paths.js';
import { UsageError } from './settings.js';

/** Creates `dir` (mode 0700) if missing and checks it is a writable directory; throws {@link UsageError}. */
export async function ensureStateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOTDIR' || e.code === 'EEXIST' ? 'not a directory' : e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' ? 'not writable' : e.message;
    throw new UsageError(`Invalid --state-dir: ${dir}: ${why}`);
  }
}
