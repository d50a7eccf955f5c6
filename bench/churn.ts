/**
 * (6) Churn: one client process (the bench) opens and ends sessions (initialize + DELETE) as
 * fast as it can for `seconds`, with `concurrency` loops. From the API's SSE stream: writes per
 * second (seq), the lag of every change (the k-th open answered -> the first snapshot the API
 * publishes that counts k opens; the same for DELETEs), the lag of the final state, and the
 * CPU the child and the API used.
 */
import { nowMs, waitUntil } from './lib/clock.js';
import { rawDelete, rawInitialize, SseStream } from './lib/http.js';
import { cpuSeconds, startApi } from './lib/procs.js';
import { round } from './lib/stats.js';

interface Seen {
  at: number;
  seq: number;
  total: number;
  deleted: number;
  active: number;
}

export interface Churn {
  seconds: number;
  concurrency: number;
  changes: number;
  opens: number;
  closes: number;
  changesPerSec: number;
  writes: number;
  writesPerSec: number;
  /** Snapshots the API published (accepted from the watcher) during the run. */
  published: number;
  maxLagMs: number;
  finalLagMs: number;
  cpuPct: number;
  childCpuPct: number;
  apiCpuPct: number;
  finalStateSeen: boolean;
}

/** For sorted change times and snapshots, the largest lag until a snapshot counted k changes. */
function maxLag(times: number[], seen: Seen[], countOf: (s: Seen) => number): number {
  let worst = 0;
  let j = 0;
  for (let k = 1; k <= times.length; k++) {
    while (j < seen.length && countOf(seen[j]!) < k) j++;
    if (j === seen.length) return Number.POSITIVE_INFINITY;
    worst = Math.max(worst, seen[j]!.at - times[k - 1]!);
  }
  return worst;
}

export async function measureChurn(seconds: number, concurrency: number): Promise<Churn> {
  const api = await startApi();
  const sse = new SseStream();
  try {
    const seen: Seen[] = [];
    sse.onFrame((f) => {
      const s = JSON.parse(f.data) as { seq: number; totalConnections: number; activeConnections: number; sessionsClosed?: { delete: number } };
      seen.push({ at: f.at, seq: s.seq, total: s.totalConnections, deleted: s.sessionsClosed?.delete ?? 0, active: s.activeConnections });
    });
    await sse.open(`${api.url}/api/mcp/events`);
    await waitUntil(() => seen.length > 0, 5000, 'the first SSE snapshot');
    const base = seen.at(-1)!;
    const cpu0 = { child: cpuSeconds(api.childPid), api: cpuSeconds(api.apiPid) };
    const opens: number[] = [];
    const closes: number[] = [];
    const start = nowMs();
    const end = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (nowMs() < end) {
          const sid = await rawInitialize(api.mcpUrl, 'bench-churn');
          opens.push(nowMs());
          await rawDelete(api.mcpUrl, sid);
          closes.push(nowMs());
        }
      }),
    );
    const last = Math.max(...opens, ...closes);
    const final = (s: Seen) => s.total - base.total === opens.length && s.deleted - base.deleted === closes.length && s.active === 0;
    let finalStateSeen = true;
    await waitUntil(() => seen.some(final), 10_000, 'the final state of the churn').catch(() => (finalStateSeen = false));
    const finalSeen = seen.find(final);
    const elapsed = ((finalSeen?.at ?? nowMs()) - start) / 1000;
    const cpu1 = { child: cpuSeconds(api.childPid), api: cpuSeconds(api.apiPid) };
    const during = seen.filter((s) => s.at >= start);
    const writes = (finalSeen?.seq ?? seen.at(-1)!.seq) - base.seq;
    const lagOpen = maxLag(opens.sort((a, b) => a - b), during, (s) => s.total - base.total);
    const lagClose = maxLag(closes.sort((a, b) => a - b), during, (s) => s.deleted - base.deleted);
    const childCpuPct = ((cpu1.child - cpu0.child) / elapsed) * 100;
    const apiCpuPct = ((cpu1.api - cpu0.api) / elapsed) * 100;
    return {
      seconds,
      concurrency,
      changes: opens.length + closes.length,
      opens: opens.length,
      closes: closes.length,
      changesPerSec: round((opens.length + closes.length) / seconds, 1),
      writes,
      writesPerSec: round(writes / elapsed, 1),
      published: during.length,
      maxLagMs: round(Math.max(lagOpen, lagClose), 1),
      finalLagMs: finalSeen ? round(finalSeen.at - last, 1) : Number.NaN,
      cpuPct: round(childCpuPct + apiCpuPct, 1),
      childCpuPct: round(childCpuPct, 1),
      apiCpuPct: round(apiCpuPct, 1),
      finalStateSeen,
    };
  } finally {
    sse.close();
    await api.close();
  }
}
