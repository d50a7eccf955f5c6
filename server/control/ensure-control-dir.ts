/**
 * Making the control directory `state/<serverId>/control/` (see shared/control-request.ts) ours at
 * start: created with mode 0700, and refused, like the rest of the state directory (see
 * shared/io/state-dir.ts), when it is a symbolic link, not a directory, or another user's. Requests
 * are read from it as they come.
 */
import { mkdir } from 'node:fs/promises';
import { errnoPhrase } from '../../shared/errno.js';
import { DIR_MODE } from '../../shared/paths.js';
import { ownDirProblem } from '../../shared/io/state-dir.js';

/** The control directory cannot be used; `message` names it and says why. */
export class ControlDirError extends Error {
  readonly code = 'ECONTROLDIR';
  constructor(readonly dir: string, why: string, options?: { cause?: unknown }) {
    super(`control directory ${dir}: ${why}`, options);
    this.name = 'ControlDirError';
  }
}

/**
 * Creates `dir` (mode 0700) if missing and checks that it is a real directory (never a
 * symbolic link) of this user; tightens a looser mode to 0700. Throws {@link ControlDirError}.
 */
export async function ensureControlDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: DIR_MODE });
  } catch (err) {
    // EEXIST: there already; what it is gets checked below (mkdir never follows a link).
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ControlDirError(dir, errnoPhrase(err), { cause: err });
  }
  // Like the server directory around it; requests name sessions of clients.
  const why = await ownDirProblem(dir, { notDirectory: '; remove it', owner: '; remove it' });
  if (why) throw new ControlDirError(dir, why);
}
