/** Markdown tables of a CPU profile's summary (bench/lib/cpu-profile.ts), in µs per request. */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { top, type ProfileSummary } from './cpu-profile.js';

/** The `CPU.<pid>.cpuprofile` that the preload (cpu-prof-preload.ts) wrote for `pid` in `dir`. */
export async function profileOf(dir: string, pid: number): Promise<string> {
  const f = (await readdir(dir)).find((n) => n.endsWith('.cpuprofile') && n.includes(`.${pid}.`));
  if (!f) throw new Error(`profile: no CPU profile of pid ${pid} in ${dir} (did it exit cleanly?)`);
  return path.join(dir, f);
}

/** Modules whose name is one of `names` or under one of them. */
export const any = (...names: string[]) => (m: string) => names.some((n) => m === n || m.startsWith(`${n}/`));

/** ms over `calls`, in µs per call, one decimal. */
export const us = (ms: number, calls: number) => ((ms * 1000) / calls).toFixed(1);

function table(title: string, rows: [string, number][], calls: number): string {
  return `\n#### ${title}\n\n| µs/request | ms | |\n|---:|---:|---|\n${rows.map(([k, v]) => `| ${us(v, calls)} | ${v.toFixed(1)} | \`${k}\` |`).join('\n')}\n`;
}

/** A process's section: its busy time per request, then by group, module, function and the project's own functions. */
export function section(name: string, s: ProfileSummary, calls: number): string {
  return `\n### ${name}: ${calls} calls, busy ${s.busyMs.toFixed(0)} of ${s.windowMs.toFixed(0)} ms sampled = **${us(s.busyMs, calls)} µs/request**\n`
    + (s.inclusiveGroups.size ? table('inclusive time by group (a sample counts once per group)', top(s.inclusiveGroups, 20), calls) : '')
    + table('self time by module', top(s.selfByModule, 18), calls)
    + table('self time by function', top(s.selfByFunction, 30), calls)
    + (s.inclusiveOurs.size ? table("inclusive time of the project's functions", top(s.inclusiveOurs, 25), calls) : '');
}
