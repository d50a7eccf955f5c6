/**
 * Who launched the wrapper (the client application: Claude Desktop, Cursor, an agent): its parent's
 * pid and its name in the process table (`/proc/<pid>/comm`, at most 15 characters as the kernel
 * keeps it), null where that cannot be read (no /proc, or the parent is gone).
 */
import { readFileSync } from 'node:fs';
import type { LaunchedBy } from '../../../shared/snapshot.js';
import { boundText } from '../../sessions/client-fields.js';

/** The longest name kept (the kernel's comm is 15 bytes; other systems may say more). */
const NAME_MAX = 64;

export function launchedBy(ppid: number = process.ppid): LaunchedBy | null {
  if (!Number.isSafeInteger(ppid) || ppid <= 0) return null;
  let name: string | null = null;
  try {
    name = boundText(readFileSync(`/proc/${ppid}/comm`, 'utf8').replace(/\n$/, ''), NAME_MAX) ?? null;
  } catch {
    // ENOENT (no /proc, or the parent exited already) or EACCES: the name is unknown, the pid is not.
  }
  return { pid: ppid, name };
}
