/**
 * What the soak watches while it runs: the memory and descriptors of the API and of each child
 * (sampled every few seconds), and whether the API answers `/livez` (probed every 200 ms, the
 * longest gap between two answers kept). At the end, growth is judged against the first sample
 * after the warm-up: a leak shows as a value that keeps rising once the load is steady.
 */
import { nowMs, sleep } from '../lib/clock.js';
import { getJson, request } from '../lib/http.js';
import { handles, rssMb } from '../lib/procs.js';
import { round } from '../lib/stats.js';
import type { FaultWindow } from './faults.js';

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
}

/**
 * RSS and descriptors of the API and of each child, at the end against the warm-up. A child
 * that a fault replaced after the warm-up is compared all the same: its process is younger, so
 * a figure above the warm-up's is growth of the server, not of one process.
 */
export function judgeGrowth(warm: Sample, end: Sample): Growth[] {
  const out: Growth[] = [];
  const compare = (who: string, w: ProcessSample | undefined, e: ProcessSample | undefined) => {
    if (!w || !e) return;
    out.push({ what: `${who} rssMiB`, warm: w.rssMiB, end: e.rssMiB, ok: e.rssMiB <= w.rssMiB * (1 + GROWTH) });
    out.push({ what: `${who} fds`, warm: w.fds, end: e.fds, ok: e.fds <= w.fds * (1 + GROWTH) });
  };
  compare('api', warm.api, end.api);
  for (const id of Object.keys(warm.children)) compare(id, warm.children[id], end.children[id]);
  return out;
}

/** What the liveness probe saw. */
export interface Liveness {
  probes: number;
  failures: number;
  /** The longest time between two answers. */
  longestGapMs: number;
  /** The same, leaving out gaps that overlap a fault that froze the API itself. */
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

  /** Stops probing; the gaps are judged against the faults that froze the API. */
  async stop(faults: FaultWindow[]): Promise<Liveness> {
    this.#running = false;
    await this.#done;
    const frozen = faults.filter((f) => f.kind === 'freeze-api');
    const longest = (gaps: Gap[]) => round(Math.max(0, ...gaps.map((g) => g.toMs - g.fromMs)), 0);
    const unfrozen = this.#gaps.filter((g) => !frozen.some((f) => g.toMs >= f.startMs && g.fromMs <= f.endMs));
    return { probes: this.#probes, failures: this.#failures, longestGapMs: longest(this.#gaps), longestGapUnfrozenMs: longest(unfrozen) };
  }
}
