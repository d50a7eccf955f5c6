/**
 * The process groups of `--command` sessions, as seen from `/proc` (Linux): each session's
 * stdio process is spawned `detached`, so it leads its own session and process group (pid =
 * pgid = sid), and everything it starts (`npx` starts node, a shell script its tools) stays in
 * that group. Used by the child for the memory on a session's row, and by whoever cleans up
 * after a child that was SIGKILLed (its supervising API, or its own next start) to end the
 * groups it left. Where `/proc` does not exist, memory is unknown (null) and nothing is reaped:
 * killing a pid we cannot check could kill a stranger that reused it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Snapshot } from './snapshot.js';

/** Fields of `/proc/<pid>/stat` after `(comm)`: state is [0], ppid [1], pgrp [2], session [3], starttime [19]. */
function statFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    // ENOENT (gone), ESRCH, or no /proc at all: nothing to read.
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

let bootMs: number | undefined;
/** Boot time in ms since the epoch (`btime` of /proc/stat), or undefined without /proc. */
function bootTimeMs(): number | undefined {
  if (bootMs === undefined) {
    try {
      const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
      if (m) bootMs = Number(m[1]) * 1000;
    } catch {
      // No /proc: unknown.
    }
  }
  return bootMs;
}

/** USER_HZ: the unit of `starttime`; 100 on every Linux that Node runs on. */
const CLOCK_TICKS = 100;

/** When `pid` started, in ms since the epoch (to 10 ms and the second of `btime`), or undefined. */
export function processStartMs(pid: number): number | undefined {
  const f = statFields(pid);
  const boot = bootTimeMs();
  if (!f || boot === undefined) return undefined;
  return boot + (Number(f[19]) / CLOCK_TICKS) * 1000;
}

/**
 * Ends the process groups led by `pids` that a dead writer left, SIGKILL at once (their
 * writer is gone: nobody is waiting for a graceful end). A pid is killed only if it still
 * leads its own session and group (as a `--command` process does) and started no later than
 * `notAfterMs` (the dead writer's last snapshot): a pid reused by a process started since then
 * is left alone. Returns the pids whose groups were killed.
 */
export function reapProcessGroups(pids: readonly number[], notAfterMs: number): number[] {
  const killed: number[] = [];
  for (const pid of pids) {
    if (!Number.isSafeInteger(pid) || pid <= 1) continue;
    const f = statFields(pid);
    if (!f || Number(f[2]) !== pid || Number(f[3]) !== pid) continue;
    const started = processStartMs(pid);
    // 1 s of slack: btime has whole seconds.
    if (started === undefined || started > notAfterMs + 1000) continue;
    try {
      process.kill(-pid, 'SIGKILL');
      killed.push(pid);
    } catch (err) {
      // ESRCH: the group is gone meanwhile, which is what we wanted.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  return killed;
}

/**
 * Resident memory of each process group in `pgids`, in bytes: the sum of VmRSS of its members
 * (one pass over /proc for all of them). A group with no member left, or no /proc: absent.
 */
export function groupRssBytes(pgids: ReadonlySet<number>): Map<number, number> {
  const out = new Map<number, number>();
  if (pgids.size === 0) return out;
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    const pid = Number(name);
    const f = statFields(pid);
    if (!f) continue;
    const pgrp = Number(f[2]);
    if (!pgids.has(pgrp)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      // Exited between the two reads.
      continue;
    }
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (m) out.set(pgrp, (out.get(pgrp) ?? 0) + Number(m[1]) * 1024);
  }
  return out;
}

/**
 * Ends the `--command` processes a dead writer's last snapshot lists (its connections'
 * `process.pid`), as {@link reapProcessGroups} does; returns the pids whose groups were killed.
 */
export function reapSnapshotProcesses(snap: Pick<Snapshot, 'connections' | 'writtenAt'>): number[] {
  const pids = snap.connections.flatMap((c) => (c.process ? [c.process.pid] : []));
  return pids.length === 0 ? [] : reapProcessGroups(pids, Date.parse(snap.writtenAt));
}
