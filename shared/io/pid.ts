/** Whether a process runs: the one liveness test of the project (writers, readers, the CLI). */
import { readFileSync } from 'node:fs';

/**
 * True while `pid` runs on this machine. A zombie (exited, not yet reaped) is not running.
 * EPERM: it exists but belongs to another user. A pid is only a hint of a writer's life (pids are
 * reused, and a container's pid means nothing in the host's namespace): judge a writer by its
 * lock's freshness first.
 */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // "pid (comm) S …": the state follows the last ')'.
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.charAt(s.lastIndexOf(')') + 2) !== 'Z';
  } catch (err) {
    // ENOENT: it went away just now; no /proc at all (not Linux): kill(0) said it was there.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !procExists();
  }
}

let hasProc: boolean | undefined;
function procExists(): boolean {
  if (hasProc === undefined) {
    try {
      readFileSync('/proc/self/stat');
      hasProc = true;
    } catch {
      hasProc = false;
    }
  }
  return hasProc;
}
