/**
 * What the soak watches while it runs: the memory and descriptors of the API and of each child
 * (sampled every few seconds), and whether the API answers `/livez` (probed every 200 ms, the
 * longest gap between two answers kept). At the end, growth is judged against the values after
 * the warm-up: a leak shows as a value that keeps rising once the load is steady.
 */
import { readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { nowMs, sleep, waitUntil } from '../lib/clock.js';
import { getJson, request } from '../lib/http.js';
import { handles, rssMb } from '../lib/procs.js';
import { round } from '../lib/stats.js';

/** One process at one time. */
export interface ProcessSample {
  pid: number;
  rssMiB: number;
  fds: number;
}

/** The API and its children at one time. */
export interface Sample {
  atMin: number;
  api: ProcessSample;
  children: Record<string, ProcessSample>;
}

function processSample(pid: number): ProcessSample | undefined {
  try {
    return { pid, rssMiB: round(rssMb(pid), 1), fds: handles(pid).fds };
  } catch {
    return undefined; // it exited between the listing and the read (a fault killed it)
  }
}

/** Samples the API at `apiPid` and the children it lists. */
export async function sample(apiUrl: string, apiPid: number, atMin: number): Promise<Sample | undefined> {
  const api = processSample(apiPid);
  if (!api) return undefined;
  const { servers } = await getJson<{ servers: { serverId: string; pid: number | null }[] }>(`${apiUrl}/api/mcp/servers`).catch(() => ({ servers: [] }));
  const children: Record<string, ProcessSample> = {};
  for (const s of servers) {
    const p = s.pid === null ? undefined : processSample(s.pid);
    if (p) children[s.serverId] = p;
  }
  return { atMin: round(atMin, 2), api, children };
}

/** A value at the end above `1 + GROWTH` times its value after the warm-up is growth. */
export const GROWTH = 0.1;

/** One figure compared: after the warm-up and at the end. */
export interface Growth {
  what: string;
  warm: number;
  end: number;
  ok: boolean;
  /**
   * Whether the pass depends on it. RSS is only reported: V8 grows a busy process's heap
   * towards a plateau over minutes and keeps what a heap snapshot used (a restart starts a
   * child again), while the live heap, judged instead, measures what the process still holds.
   */
  judged: boolean;
}

/**
 * RSS and descriptors of the API and of each child: the highest value in the `windowMin`
 * minutes after the warm-up against the highest in the last `windowMin` minutes. Highest over a
 * window, not one sample: a heap that V8 grows and shrinks, a child that a fault replaced (its
 * young process is small) and the sessions open at one instant all move single samples by more
 * than 10 %, while a leak raises the plateau.
 */
export function judgeGrowth(samples: Sample[], warmupMin: number, windowMin: number): Growth[] {
  const endMin = samples.at(-1)?.atMin ?? 0;
  const warm = samples.filter((x) => x.atMin >= warmupMin && x.atMin <= warmupMin + windowMin);
  const end = samples.filter((x) => x.atMin >= endMin - windowMin);
  if (warm.length === 0 || end.length === 0) return [];
  const highest = (xs: Sample[], pick: (x: Sample) => number | undefined) => Math.max(...xs.map(pick).filter((v): v is number => v !== undefined));
  const out: Growth[] = [];
  const ids = ['api', ...Object.keys(warm[0]!.children)];
  for (const id of ids) {
    const of = (x: Sample) => (id === 'api' ? x.api : x.children[id]);
    for (const field of ['rssMiB', 'fds'] as const) {
      const w = highest(warm, (x) => of(x)?.[field]);
      const e = highest(end, (x) => of(x)?.[field]);
      if (!Number.isFinite(w) || !Number.isFinite(e)) continue;
      out.push({ what: `${id} ${field}`, warm: w, end: e, ok: e <= w * (1 + GROWTH), judged: field === 'fds' });
    }
  }
  return out;
}

/**
 * The environment that lets {@link liveHeapMiB} ask the API and its children (which inherit
 * it) for a heap snapshot, written to `dir`.
 */
export function heapSnapshotEnv(dir: string): NodeJS.ProcessEnv {
  return { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}` };
}

/**
 * The live heap of `pid` in MiB: the size of a heap snapshot, which V8 writes after a full
 * garbage collection, so it counts what is still reachable (RSS also counts the heap V8 keeps
 * for later). The process pauses for a second or two meanwhile. Undefined when it exited.
 */
export async function liveHeapMiB(pid: number, dir: string): Promise<number | undefined> {
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    return undefined;
  }
  const mine = () => readdirSync(dir).find((n) => n.endsWith('.heapsnapshot') && n.includes(`.${pid}.`));
  // Done when its size stops changing.
  let last = -1;
  const file = await waitUntil(() => {
    const name = mine();
    if (!name) return undefined;
    const size = statSync(path.join(dir, name)).size;
    const done = size > 0 && size === last;
    last = size;
    return done ? name : undefined;
  }, 60_000, `a heap snapshot of ${pid}`, 500).catch(() => undefined);
  if (!file) return undefined;
  const mib = round(statSync(path.join(dir, file)).size / 2 ** 20, 1);
  await rm(path.join(dir, file), { force: true });
  return mib;
}

/**
 * The live heap of the API and of each child. `paused`: told of each process's pause, which
 * may explain its clients' failures as a fault would (a long pause ends requests in flight).
 */
export async function liveHeaps(apiUrl: string, apiPid: number, dir: string, paused: (serverId: string, startMs: number) => void): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const { servers } = await getJson<{ servers: { serverId: string; pid: number | null }[] }>(`${apiUrl}/api/mcp/servers`).catch(() => ({ servers: [] }));
  for (const [id, pid] of [['api', apiPid] as const, ...servers.map((s) => [s.serverId, s.pid] as const)]) {
    if (pid === null) continue;
    const startMs = nowMs();
    const mib = await liveHeapMiB(pid, dir);
    paused(id, startMs);
    if (mib !== undefined) out[id] = mib;
  }
  return out;
}

/** The live heaps at the end against after the warm-up. */
export function judgeHeaps(warm: Record<string, number>, end: Record<string, number>): Growth[] {
  return Object.keys(warm).filter((id) => end[id] !== undefined).map((id) => ({ what: `${id} liveHeapMiB`, warm: warm[id]!, end: end[id]!, ok: end[id]! <= warm[id]! * (1 + GROWTH), judged: true }));
}

/** What the liveness probe saw. */
export interface Liveness {
  probes: number;
  failures: number;
  /** The longest time between two answers. */
  longestGapMs: number;
  /** The same, leaving out gaps that overlap a time the soak paused the API on purpose. */
  longestGapUnfrozenMs: number;
}

interface Gap {
  fromMs: number;
  toMs: number;
}

/** Probes `GET /livez` every 200 ms until `stop()` resolves its result. */
export class LivenessProbe {
  readonly #url: string;
  #running = true;
  readonly #gaps: Gap[] = [];
  #probes = 0;
  #failures = 0;
  readonly #done: Promise<void>;

  constructor(apiUrl: string) {
    this.#url = `${apiUrl}/livez`;
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    let lastOk = nowMs();
    while (this.#running) {
      this.#probes += 1;
      const ok = await Promise.race([
        request(this.#url).then((r) => r.status === 200, () => false),
        sleep(5000).then(() => false),
      ]);
      if (ok) {
        const at = nowMs();
        this.#gaps.push({ fromMs: lastOk, toMs: at });
        lastOk = at;
      } else {
        this.#failures += 1;
      }
      await sleep(200);
    }
  }

  /** Stops probing; `paused`: when the soak paused the API (frozen, or writing a heap snapshot). */
  async stop(paused: Array<{ startMs: number; endMs: number }>): Promise<Liveness> {
    this.#running = false;
    await this.#done;
    const frozen = paused;
    const longest = (gaps: Gap[]) => round(Math.max(0, ...gaps.map((g) => g.toMs - g.fromMs)), 0);
    const unfrozen = this.#gaps.filter((g) => !frozen.some((f) => g.toMs >= f.startMs && g.fromMs <= f.endMs));
    return { probes: this.#probes, failures: this.#failures, longestGapMs: longest(this.#gaps), longestGapUnfrozenMs: longest(unfrozen) };
  }
}
