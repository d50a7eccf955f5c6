/**
 * Making sure the state directory is usable and ours at start, so a bad `--state-dir` fails with
 * exit 2 and one line instead of a write error (or a planted symlink) later.
 *
 * Like ssh with `~/.ssh`: a directory that another user owns, or that group or others may write,
 * is refused. Whoever can write it can rename our `<id>` directory away and put one full of
 * symbolic links in its place.
 */
import { access, chmod, constants, lstat, mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import { errnoPhrase } from '../errno.js';
import { DIR_MODE, serverDir } from '../paths.js';
import { UsageError } from '../settings.js';
import { STATE_DIR_MARKER } from '../user-state-dir.js';

const MARKER_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Writes the empty marker `.mcp-monitor` (0600) into a state directory we just made; never
 * through a link planted at its name (O_EXCL|O_NOFOLLOW), and one already there is left alone.
 */
async function writeMarker(dir: string): Promise<void> {
  try {
    await (await open(path.join(dir, STATE_DIR_MARKER), MARKER_FLAGS, 0o600)).close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** What is wrong with a directory's owner or mode, or undefined when it is ours and not writable by others. */
function untrusted(dir: string, st: Stats): string | undefined {
  // No uids (Windows): nothing to compare.
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    return `owned by uid ${st.uid}, not by this user (uid ${uid}); use a directory of your own or chown it`;
  }
  if ((st.mode & 0o022) !== 0) {
    return `writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}); run chmod go-w ${dir}`;
  }
  return undefined;
}

/** How an error names the state directory, by where it came from: the flag, the env var or the default. */
export function stateDirLabel(source: 'flag' | 'env' | 'default' | 'config'): string {
  return source === 'flag' ? '--state-dir' : source === 'env' ? 'MCP_MONITOR_STATE_DIR' : source === 'config' ? 'state directory (of the config file)' : 'state directory (the default)';
}

/**
 * Creates `dir` (mode 0700) if missing and checks that it is a writable directory that this
 * user owns and that group and others cannot write; throws {@link UsageError} naming the fix.
 * `dir` itself may be a symbolic link the user made (`./state -> /var/lib/…`); what it points to
 * is checked. A directory made here gets the marker file `.mcp-monitor` (see user-state-dir.ts).
 */
export async function ensureStateDir(dir: string, label = '--state-dir'): Promise<void> {
  let st: Stats;
  let made: string | undefined;
  try {
    made = await mkdir(dir, { recursive: true, mode: DIR_MODE });
    st = await stat(dir);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EEXIST' ? 'not a directory' : e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' ? 'not writable' : errnoPhrase(e);
    throw new UsageError(`Invalid ${label}: ${dir}: ${why}`);
  }
  const bad = untrusted(dir, st);
  if (bad) throw new UsageError(`Invalid ${label}: ${dir}: ${bad}`);
  if (made !== undefined) {
    try {
      await writeMarker(dir);
    } catch (err) {
      throw new UsageError(`Invalid ${label}: ${dir}: cannot write its marker ${STATE_DIR_MARKER}: ${errnoPhrase(err)}`);
    }
  }
}

/**
 * Checks that `dir`, just made or found, is a real directory (never a symbolic link) of this
 * user, and tightens a looser mode to 0700 (made by hand or by an older version: it holds
 * client data). Returns what is wrong, as words for an error line, or undefined; `hint` ends
 * the words for a directory that is not one and for one of another user.
 */
export async function ownDirProblem(dir: string, hint: { notDirectory: string; owner: string }): Promise<string | undefined> {
  let st: Stats;
  try {
    st = await lstat(dir);
  } catch (err) {
    return errnoPhrase(err);
  }
  if (st.isSymbolicLink()) return 'is a symbolic link (refused); remove it';
  if (!st.isDirectory()) return `not a directory${hint.notDirectory}`;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `owned by uid ${st.uid}, not by this user (uid ${uid})${hint.owner}`;
  if ((st.mode & 0o777) !== DIR_MODE) await chmod(dir, DIR_MODE);
  return undefined;
}

/**
 * Creates `<stateDir>/<serverId>` (mode 0700) if missing and checks that it is a real directory
 * (never a symbolic link) of this user; tightens its mode to 0700 (it holds client IPs).
 * Throws {@link UsageError} naming the directory.
 */
export async function ensureServerDir(stateDir: string, serverId: string): Promise<string> {
  const dir = serverDir(stateDir, serverId);
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new UsageError(`Invalid server directory ${dir}: ${errnoPhrase(err)}`);
  }
  const why = await ownDirProblem(dir, { notDirectory: '', owner: '; remove it or chown it' });
  if (why) throw new UsageError(`Invalid server directory ${dir}: ${why}`);
  return dir;
}
