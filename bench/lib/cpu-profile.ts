/**
 * Reading V8 CPU profiles (`node --cpu-prof`): self and inclusive time per function and per
 * module, within a time window. V8 stamps samples with the monotonic clock in µs, the clock of
 * `nowMs()` (lib/clock.ts), so a window measured in the bench selects the samples of a load run.
 */
import { readFile } from 'node:fs/promises';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Time spent, in ms, by key. */
export type Times = Map<string, number>;

/** What a profile says about one window. */
export interface ProfileSummary {
  /** Sampled ms in the window, idle included. */
  windowMs: number;
  /** Sampled ms not idle (the process's CPU, as the profiler saw it). */
  busyMs: number;
  /** Self time by function (`name module:line`). */
  selfByFunction: Times;
  /** Self time by module (see {@link moduleOf}). */
  selfByModule: Times;
  /** Inclusive time of the project's own functions (dist/server, dist/api, dist/shared), each counted once per sample. */
  inclusiveOurs: Times;
  /** Inclusive time of each group of modules given to {@link summarize}: a sample with any frame in it counts once. */
  inclusiveGroups: Times;
}

/** Groups of modules (by {@link moduleOf}) whose inclusive time is wanted. */
export type Groups = Record<string, (module: string) => boolean>;

/**
 * The module a frame belongs to: `pkg` for node_modules (scoped names kept), `ours:server/x/y`
 * for the project's compiled files, `node:<area>` for Node's own JavaScript, `(gc)`,
 * `(program)`, `(idle)`, or `v8:<name>` for built-ins without a URL (JSON.stringify, …).
 */
export function moduleOf(f: CallFrame): string {
  const { url, functionName } = f;
  if (url === '') {
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName.startsWith('(')) return functionName;
    return `v8:${functionName || '(anonymous)'}`;
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm) return nm[1]!;
  // dist/.bench/server/… is the bench's own compiled copy (mcp-only-server imports it).
  // Nested folders kept (`ours:server/publish/snapshot-writer`).
  const ours = /\/dist\/(?:\.bench\/)?((?:server|api|shared|cli|bench)\/(?:[^/]+\/)*[^/]+)\.js$/.exec(url);
  if (ours) return `ours:${ours[1]}`;
  if (url.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([^/]+)/.exec(url);
    return `node:${m?.[1] ?? url}`;
  }
  return url;
}

function functionKey(f: CallFrame): string {
  const mod = moduleOf(f);
  return f.url === '' ? mod : `${f.functionName || '(anonymous)'} ${mod}:${f.lineNumber + 1}`;
}

function add(m: Times, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v);
}

/** Summarizes the samples of `file` taken within any of `windows` (`[fromMs, toMs]`, nowMs clock). */
export async function summarize(file: string, windows: readonly (readonly [number, number])[], groups: Groups = {}): Promise<ProfileSummary> {
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const s: ProfileSummary = { windowMs: 0, busyMs: 0, selfByFunction: new Map(), selfByModule: new Map(), inclusiveOurs: new Map(), inclusiveGroups: new Map() };
  let t = p.startTime;
  const us = windows.map(([a, b]) => [a * 1000, b * 1000] as const);
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (!us.some(([a, b]) => t >= a && t <= b)) continue;
    // A sample stands for the time until the next one.
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(p.samples[i]!)!;
    s.windowMs += ms;
    const mod = moduleOf(node.callFrame);
    if (mod !== '(idle)') s.busyMs += ms;
    add(s.selfByModule, mod, ms);
    add(s.selfByFunction, functionKey(node.callFrame), ms);
    const seen = new Set<string>();
    const inGroups = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      const m = moduleOf(f);
      for (const [g, has] of Object.entries(groups)) if (has(m)) inGroups.add(g);
      if (!m.startsWith('ours:')) continue;
      const k = functionKey(f);
      if (seen.has(k)) continue;
      seen.add(k);
      add(s.inclusiveOurs, k, ms);
    }
    for (const g of inGroups) add(s.inclusiveGroups, g, ms);
  }
  return s;
}

/** The `n` largest entries, largest first. */
export function top(m: Times, n: number): [string, number][] {
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
}
