/**
 * Who a process is, exactly, as Linux tells it in `/proc`: its pid, when it started in clock
 * ticks since boot (`/proc/<pid>/stat` field 22, `starttime`), its real uid (`/proc/<pid>/status`
 * `Uid:`) and the boot it runs in (`/proc/sys/kernel/random/boot_id`). A `--command` child records
 * this when it spawns a stdio process; a reaper kills a listed pid only when all four
 * match, so a pid reused by another process (even one started the same second), a snapshot of
 * another boot, or a process of another user is never killed. No wall clock is involved: a clock
 * step changes none of these.
 */
import { readFileSync } from 'node:fs';
import { parseStat, type ProcStat } from '../proc-stat.js';

/** The identity of a process (see the file comment). */
export interface ProcessIdentity {
  pid: number;
  /** `starttime` of `/proc/<pid>/stat`: clock ticks after boot. */
  startTicks: number;
  /** Its real uid. */
  uid: number;
  /** `/proc/sys/kernel/random/boot_id` of the boot it runs in. */
  bootId: string;
}

/** Reads `/proc/<pid>/stat`; undefined when there is no such process (or no /proc). */
export function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // ENOENT or ESRCH (gone), or no /proc at all: nothing to read.
    return undefined;
  }
  return parseStat(stat);
}

/** The real uid of `pid` (first field of `Uid:` in `/proc/<pid>/status`), or undefined when it is gone. */
export function procUid(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    // Gone meanwhile, or no /proc.
    return undefined;
  }
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

let cachedBootId: string | null | undefined;
/** This boot's id, or undefined without /proc. It never changes while the machine runs, so it is read once. */
export function bootId(): string | undefined {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      // No /proc (not Linux): no identity, so nothing is ever reaped.
      cachedBootId = null;
    }
  }
  return cachedBootId ?? undefined;
}

/** The identity of `pid` now, or undefined when it is gone or /proc cannot tell. */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  const boot = bootId();
  const stat = procStat(pid);
  const uid = procUid(pid);
  if (boot === undefined || stat === undefined || uid === undefined) return undefined;
  return { pid, startTicks: stat.startTicks, uid, bootId: boot };
}
