/** The fields of `/proc/<pid>/stat` (proc(5)) that the reaper checks, parsed from the file's text. */

/** What `/proc/<pid>/stat` says of a process that the reaper needs. */
export interface ProcStat {
  /** Process group. */
  pgrp: number;
  /** Session. */
  session: number;
  startTicks: number;
}

/** Parses the text of `/proc/<pid>/stat`; undefined when it is not one. */
export function parseStat(stat: string): ProcStat | undefined {
  // comm, in parentheses, may hold spaces and ')': the fields begin after the last ')'.
  // After it: state [0], ppid [1], pgrp [2], session [3], ..., starttime [19] (field 22).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const out = { pgrp: Number(f[2]), session: Number(f[3]), startTicks: Number(f[19]) };
  return Number.isSafeInteger(out.pgrp) && Number.isSafeInteger(out.session) && Number.isSafeInteger(out.startTicks) ? out : undefined;
}
