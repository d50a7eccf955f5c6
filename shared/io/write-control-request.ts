/**
 * Writes a request into the control directory of a server, for the API and the CLI; what a
 * request holds and how the writer reads it is shared/control-request.ts.
 */
import { randomBytes } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { controlDir, type ControlRequest } from '../control-request.js';
import { FILE_MODE } from '../paths.js';
import { writeFileNoFollow } from './write-file-no-follow.js';

/** The control directory is missing: no writer of this version has started for the server. */
export class NoControlDir extends Error {
  constructor(readonly dir: string) {
    super(`no control directory ${dir} (is a writer of this server running?)`);
    this.name = 'NoControlDir';
  }
}

/**
 * Writes `request` into the control directory of `serverId`, atomically (temp file with
 * O_EXCL|O_NOFOLLOW, fsync, rename), and returns the file's path. The directory must exist and
 * be a directory (never a link): the writer made it. Throws {@link NoControlDir} when it does not.
 */
export async function writeControlRequest(stateDir: string, serverId: string, request: ControlRequest): Promise<string> {
  const dir = controlDir(stateDir, serverId);
  const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st?.isDirectory()) throw new NoControlDir(dir);
  const name = `${Date.now()}-${randomBytes(6).toString('hex')}.json`;
  const file = path.join(dir, name);
  await writeFileNoFollow(file, `${JSON.stringify(request)}\n`, { mode: FILE_MODE });
  return file;
}
