/**
 * The process groups of `--command` sessions, as seen from `/proc` (Linux): each session's
 * stdio process is spawned `detached`, so it leads its own session and process group (pid =
 * pgid = sid), and everything it starts (`npx` starts node, a shell script its tools) stays in
 * that group. Used by the child for the memory on a session's row, and by whoever cleans up
 * after a child that died (its supervising API, or its own next start) to end the groups it
 * left, from the snapshot's `processes`. Where `/proc` does not exist, memory is unknown (null)
 * and nothing is reaped: killing a pid we cannot check could kill a stranger that reused it.
 */
import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { bootId, procStat, procUid } from './process-identity.js';
import { parseStat } from '../proc-stat.js';
import type { Snapshot, SnapshotProcess } from '../snapshot.js';

/**
 * What the reaper did with one listed process: `killed` (its group got SIGKILL), `gone` (no
 * such process), `other` (the pid is another process now: another boot, start time or uid, or
 * no longer a group leader), `denied` (EPERM: we may not signal it), `failed` (another errno).
 */
export type ReapOutcome = 'killed' | 'gone' | 'other' | 'denied' | 'failed';

/** One listed process and what became of it. */
export interface ReapResult {
  pid: number;
  sessionId: string | null;
  outcome: ReapOutcome;
  /** The error of `denied` and `failed`. */
  error?: string;
}

/**
 * Ends the process groups of `list` (a dead writer's `processes`), SIGKILL at once: their writer
 * is gone, nobody waits for a graceful end. A pid is killed only on an exact match of boot id,
 * pid, start time in ticks and uid, and only while it still leads its own session and group (as
 * a `--command` process does). Synchronous on purpose: the check and the kill are as close
 * together as Node allows (there is no pidfd API), so a pid freed and reused in between is all
 * but impossible. Never throws: EPERM and every other error are results.
 */
export function reapProcesses(list: readonly SnapshotProcess[]): ReapResult[] {
  const boot = bootId();
  return list.map((p) => {
    const result = (outcome: ReapOutcome, error?: string): ReapResult => ({ pid: p.pid, sessionId: p.sessionId, outcome, ...(error !== undefined && { error }) });
    if (!Number.isSafeInteger(p.pid) || p.pid <= 1) return result('other');
    if (boot === undefined || p.bootId !== boot) return result('other');
    const stat = procStat(p.pid);
    if (!stat) return result('gone');
    if (stat.startTicks !== p.startTicks || stat.pgrp !== p.pid || stat.session !== p.pid || procUid(p.pid) !== p.uid) return result('other');
    try {
      process.kill(-p.pid, 'SIGKILL');
      return result('killed');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // ESRCH: the group is gone meanwhile, which is what we wanted.
      if (e.code === 'ESRCH') return result('gone');
      // EPERM: another user's process (`sudo -u svc …`); nothing we can do but say so.
      return result(e.code === 'EPERM' ? 'denied' : 'failed', e.message);
    }
  });
}

/** Ends the `--command` processes a dead writer's last snapshot lists in `processes` (see {@link reapProcesses}). */
export function reapSnapshotProcesses(snap: Pick<Snapshot, 'processes'>): ReapResult[] {
  return snap.processes && snap.processes.length > 0 ? reapProcesses(snap.processes) : [];
}

/** Whether this kernel has `/proc/<pid>/task/<tid>/children` (CONFIG_PROC_CHILDREN); checked once. */
let childrenFiles: Promise<boolean> | undefined;
function hasChildrenFiles(): Promise<boolean> {
  childrenFiles ??= readFile(`/proc/self/task/${process.pid}/children`, 'utf8').then(
    () => true,
    () => false,
  );
  return childrenFiles;
}

/** Most processes looked at per group: a fork bomb in one group must not make the walk endless. */
const MAX_MEMBERS = 4096;

/** Pids of the children of `pid` (all its threads'), from `/proc/<pid>/task/<tid>/children`. */
async function childrenOf(pid: number): Promise<number[]> {
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    // Exited meanwhile.
    return [];
  }
  const lists = await Promise.all(tids.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '')));
  return lists.flatMap((l) => l.split(' ').filter((s) => s !== '').map(Number));
}

/** The process group of `pid`, or undefined when it is gone. */
async function pgrpOf(pid: number): Promise<number | undefined> {
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'))?.pgrp;
  } catch {
    // Exited meanwhile.
    return undefined;
  }
}

/** VmRSS of `pid` in bytes, or undefined when it is gone. */
async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    // Exited meanwhile.
    return undefined;
  }
}

/** The members of group `pgid` among its leader and the leader's descendants. */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  const queue = [pgid];
  const seen = new Set(queue);
  while (queue.length > 0 && seen.size <= MAX_MEMBERS) {
    const pid = queue.shift()!;
    if ((await pgrpOf(pid)) === pgid) members.push(pid);
    for (const child of await childrenOf(pid)) {
      if (!seen.has(child)) {
        seen.add(child);
        queue.push(child);
      }
    }
  }
  return members;
}

/** Every pid in `/proc` whose group is in `pgids`: the fallback without children files. */
async function scanGroups(pgids: ReadonlySet<number>): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    const pid = Number(name);
    const pgrp = await pgrpOf(pid);
    if (pgrp === undefined || !pgids.has(pgrp)) continue;
    out.set(pgrp, [...(out.get(pgrp) ?? []), pid]);
  }
  return out;
}

/**
 * Resident memory of each process group in `pgids`, in bytes: the sum of VmRSS of its members. It
 * reads only each leader and its descendants (`/proc/<pid>/task/<tid>/children`), not all of
 * `/proc` (which costs a read per process of the machine); a member that is no descendant of its
 * leader any more (its parent exited) is missed. A kernel without those files gets one pass over
 * `/proc`. A group with no member left, or no /proc: absent.
 */
export async function groupRssBytes(pgids: ReadonlySet<number>): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (pgids.size === 0) return out;
  const groups = (await hasChildrenFiles())
    ? new Map(await Promise.all([...pgids].map(async (g) => [g, await groupMembers(g)] as const)))
    : await scanGroups(pgids);
  for (const [pgid, members] of groups) {
    const sizes = await Promise.all(members.map(rssBytes));
    const known = sizes.filter((n): n is number => n !== undefined);
    if (known.length > 0) out.set(pgid, known.reduce((a, b) => a + b, 0));
  }
  return out;
}

/**
 * Logs what {@link reapProcesses} did, one line per kind: `killedMessage` (warn) with the pids
 * killed; a warning for those it may not or could not signal (EPERM: another user's process,
 * left alive); debug for pids that are other processes now or gone.
 */
export function logReaped(log: Logger, results: readonly ReapResult[], killedMessage: string, fields: Record<string, unknown> = {}): void {
  const of = (o: ReapOutcome) => results.filter((r) => r.outcome === o);
  const killed = of('killed');
  if (killed.length > 0) log.warn({ ...fields, pids: killed.map((r) => r.pid) }, killedMessage);
  for (const r of [...of('denied'), ...of('failed')]) {
    log.warn({ ...fields, pid: r.pid, sessionId: r.sessionId, err: r.error }, 'cannot end a stdio server process that a dead writer left (not ours to signal); left alone');
  }
  const other = of('other');
  if (other.length > 0) log.debug({ ...fields, pids: other.map((r) => r.pid) }, 'listed stdio server pids are other processes now; left alone');
}
