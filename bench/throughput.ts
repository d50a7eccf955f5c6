/**
 * (4) Overhead on the MCP server: tools/call (`echo`) per second through the child, with
 * monitoring on (the real `mcp-monitor start`: API + child writing snapshots and the journal)
 * versus off (the same MCP host with no writer), under the same load: `clients` SDK clients,
 * each calling in a loop for `seconds`. Measured with both client SDKs (see lib/load.ts): v1
 * (legacy era) and v2 in `auto` mode (the modern era where the child offers it). Runs alternate
 * off/on; the medians are reported.
 */
import path from 'node:path';
import { OPERATION_BOUNDS, quantile } from '../shared/operations.js';
import { readSnapshotFile } from '../shared/io/read-snapshot.js';
import { snapshotPath } from '../shared/paths.js';
import type { Snapshot } from '../shared/snapshot.js';
import { nowMs, sleep, waitUntil } from './lib/clock.js';
import { CLIENT_NAME, load, type ClientKind, type LoadResult, type ToolCall } from './lib/load.js';
import { median, round } from './lib/stats.js';
import { BENCH_DIST, cpuSeconds, spawnNode, startApi, stop } from './lib/procs.js';

/** On vs off with one kind of client. */
export interface ThroughputPair {
  rpsOn: number;
  rpsOff: number;
  /** Median over the rounds of on/off of one back-to-back pair. */
  ratio: number;
  runs: { on: number[]; off: number[] };
  /** CPU of the processes serving, in % of one core, during the timed runs (client included in neither). */
  cpuPct: { onChild: number; onApi: number; off: number };
  /**
   * CPU time (user + system, /proc) per `tools/call` completed, in µs, over all the side's runs
   * (warm-ups included, as the calls are): `on` is the child plus the API, `off` the bare server.
   * Unlike rps it does not move with what else the machine runs, so it is the figure to compare.
   */
  cpuUsPerCall: { on: number; off: number };
  /** `on` split into the child's and the API's part. */
  cpuUsPerCallOn: { child: number; api: number };
  /** What monitoring costs of the CPU a call takes with it on: (on - off) / on (target <= 0.05). */
  monitoringCpuShare: number;
}

/** The v2 `auto` client's pair, and what the child made of it. */
export interface ModernThroughput extends ThroughputPair {
  /** The client, and how it negotiates. */
  client: string;
  /**
   * The era its connections had in the snapshot (connection `era`, absent = legacy): `modern`
   * once the child serves 2026-07-28, `legacy` while it falls back to `initialize`; `mixed`
   * if they differed; `unseen` if none showed up in time.
   */
  era: 'legacy' | 'modern' | 'mixed' | 'unseen';
}

/** `results.json` `throughput`: the v1 client's pair at the top level (the fields of the first bench), the v2 client's under `modern`. */
export interface Throughput {
  /** The v1 (legacy) client's pair, under the field names of the first bench. */
  onRps: number;
  offRps: number;
  ratio: number;
  runs: { on: number[]; off: number[] };
  cpuPct: { onChild: number; onApi: number; off: number };
  cpuUsPerCall: ThroughputPair['cpuUsPerCall'];
  cpuUsPerCallOn: ThroughputPair['cpuUsPerCallOn'];
  monitoringCpuShare: number;
  clients: number;
  seconds: number;
  /** The v2 `auto` client's pair. */
  modern: ModernThroughput;
  /**
   * `tools/call` `echo` in the snapshot's `operations` after all the "on" runs, against the calls
   * sent to it (warm-ups included). `counted` is null when the snapshot has no such entry (a
   * child that does not count operations).
   */
  /** `p50Ms`: estimated from the buckets as the dashboard does ({@link quantile}). */
  operations: { callsSent: number; counted: number | null; errors: number | null; p50Ms: number | null };
}

/**
 * What the runs of one side of an on/off comparison added up to: the rps of each run, and the
 * CPU its processes spent over the runs' windows (connects, warm-ups and the clients' ending
 * included, so every call sent counts: `calls`).
 */
export interface SideRuns {
  rps: number[];
  /** Every `tools/call` sent by the runs, warm-ups included. */
  calls: number;
  /** Wall seconds of the runs' windows. */
  seconds: number;
  /** CPU seconds (user + system, /proc) of each of the side's processes over those windows, in the order of `pids`. */
  cpuS: number[];
  /** The processes charged (the product: its child, then its API). */
  pids: number[];
}

/** An empty tally for a side served by `pids`. */
export function sideRuns(pids: number[]): SideRuns {
  return { rps: [], calls: 0, seconds: 0, cpuS: pids.map(() => 0), pids };
}

/**
 * One timed load run against `url` (see lib/load.ts), added to `side`: its rps, its calls, and
 * the CPU of the side's processes over the run. `whileOpen` as for `load`.
 */
export async function runSide(side: SideRuns, url: string, kind: ClientKind, clients: number, seconds: number, whileOpen?: () => Promise<void>, args?: ToolCall): Promise<LoadResult> {
  const c0 = side.pids.map(cpuSeconds);
  const t0 = nowMs();
  const r = await load(url, kind, clients, seconds, whileOpen, args);
  side.seconds += (nowMs() - t0) / 1000;
  side.pids.forEach((pid, i) => (side.cpuS[i]! += cpuSeconds(pid) - c0[i]!));
  side.rps.push(r.rps);
  side.calls += r.totalCalls;
  return r;
}

/**
 * Round `round` of an alternating comparison: `off` then `on` in even rounds, `on` then `off` in
 * odd ones, so that a drift in the machine's load hits both alike.
 */
export async function alternate(round: number, off: () => Promise<unknown>, on: () => Promise<unknown>): Promise<void> {
  if (round % 2 === 0) {
    await off();
    await on();
  } else {
    await on();
    await off();
  }
}

/**
 * The median of the ratios on/off of the rounds' back-to-back pairs: the load other programs put
 * on the machine drifts by more than the overhead measured, and a pair shares most of it.
 */
export function pairedRatio(on: number[], off: number[]): number {
  return median(on.map((v, i) => v / off[i]!));
}

/** CPU of process `i` of `side` in % of one core over its runs. */
function cpuPct(side: SideRuns, i: number): number {
  return round((side.cpuS[i]! / side.seconds) * 100, 1);
}

/** CPU µs of process `i` of `side` per call it completed. */
function usPerCall(side: SideRuns, i: number): number {
  return (side.cpuS[i]! * 1e6) / side.calls;
}

function pair(on: SideRuns, off: SideRuns): ThroughputPair {
  const child = usPerCall(on, 0);
  const api = usPerCall(on, 1);
  const bare = usPerCall(off, 0);
  return {
    rpsOn: round(median(on.rps), 1),
    rpsOff: round(median(off.rps), 1),
    ratio: round(pairedRatio(on.rps, off.rps), 3),
    runs: { on: on.rps.map((v) => round(v, 1)), off: off.rps.map((v) => round(v, 1)) },
    cpuPct: { onChild: cpuPct(on, 0), onApi: cpuPct(on, 1), off: cpuPct(off, 0) },
    cpuUsPerCall: { on: round(child + api, 1), off: round(bare, 1) },
    cpuUsPerCallOn: { child: round(child, 1), api: round(api, 1) },
    monitoringCpuShare: round((child + api - bare) / (child + api), 3),
  };
}

/** The eras of the snapshot's connections opened by clients of `kind` (absent = legacy). */
function erasOf(s: Snapshot, kind: ClientKind): Set<string> {
  return new Set(s.connections.filter((c) => c.clientInfo?.name === CLIENT_NAME[kind]).map((c) => c.era ?? 'legacy'));
}

/**
 * `rounds` rounds of off/on pairs with each client kind, `clients` clients calling for `seconds`
 * per run, against one product and one bare server kept for the whole measurement.
 */
export async function measureThroughput(rounds: number, clients: number, seconds: number): Promise<Throughput> {
  const api = await startApi();
  const file = snapshotPath(api.stateDir, 'default');
  const off = spawnNode([path.join(BENCH_DIST, 'mcp-only-server.js')], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, MCP_MONITOR_LOG_LEVEL: 'info' },
  });
  let offUrl: string | undefined;
  off.on('message', (m: { url?: string }) => (offUrl = m.url));
  let callsSent = 0;
  let era: ModernThroughput['era'] = 'unseen';
  // While the v2 clients of the first "on" run are still connected: which era the child gave them.
  const lookAtEra = async () => {
    const eras = await waitUntil(async () => {
      const e = erasOf(await readSnapshotFile(file), 'v2');
      return e.size > 0 ? e : undefined;
    }, 5000, 'the v2 clients in the snapshot', 20).catch(() => new Set<string>());
    era = eras.size === 0 ? 'unseen' : eras.size > 1 ? 'mixed' : ([...eras][0] as 'legacy' | 'modern');
  };
  try {
    await waitUntil(() => offUrl, 10_000, 'the monitoring-off server');
    // Untimed runs first: the bench's own client code is cold on the first load.
    await load(offUrl!, 'v1', clients, 1);
    await load(offUrl!, 'v2', clients, 1);
    const product = () => sideRuns([api.childPid, api.apiPid]);
    const bare = () => sideRuns([off.pid!]);
    const sides: Record<ClientKind, { on: SideRuns; off: SideRuns }> = { v1: { on: product(), off: bare() }, v2: { on: product(), off: bare() } };
    for (let r = 0; r < rounds; r++) {
      for (const kind of ['v1', 'v2'] as const) {
        await alternate(
          r,
          () => runSide(sides[kind].off, offUrl!, kind, clients, seconds),
          async () => {
            // The era check runs after the timed part, so it costs the measurement nothing.
            const res = await runSide(sides[kind].on, api.mcpUrl, kind, clients, seconds, kind === 'v2' && era === 'unseen' ? lookAtEra : undefined);
            callsSent += res.totalCalls;
          },
        );
      }
    }
    const operations = await countedCalls(file, callsSent);
    const v1 = pair(sides.v1.on, sides.v1.off);
    return {
      onRps: v1.rpsOn, offRps: v1.rpsOff, ratio: v1.ratio, runs: v1.runs, cpuPct: v1.cpuPct,
      cpuUsPerCall: v1.cpuUsPerCall, cpuUsPerCallOn: v1.cpuUsPerCallOn, monitoringCpuShare: v1.monitoringCpuShare, clients, seconds,
      modern: { ...pair(sides.v2.on, sides.v2.off), client: '@modelcontextprotocol/client 2.4.0, versionNegotiation auto', era },
      operations,
    };
  } finally {
    await stop(off);
    await api.close();
  }
}

function msOrNull(seconds: number | null): number | null {
  return seconds === null ? null : round(seconds * 1000, 2);
}

/**
 * `tools/call` `echo` as the snapshot counts it, once the writes of the last calls are in: it
 * rides on activity writes (100 ms batches) and heartbeats, so it is read until it reaches
 * `callsSent` or stops changing.
 */
async function countedCalls(file: string, callsSent: number): Promise<Throughput['operations']> {
  let last: Throughput['operations'] = { callsSent, counted: null, errors: null, p50Ms: null };
  for (let i = 0; i < 20; i++) {
    const op = (await readSnapshotFile(file)).operations?.find((o) => o.method === 'tools/call' && o.name === 'echo');
    const next = op ? { callsSent, counted: op.count, errors: op.errors, p50Ms: msOrNull(quantile(OPERATION_BOUNDS, op.durationSeconds.buckets, op.count, 0.5)) } : last;
    if (next.counted === callsSent || (i > 0 && next.counted === last.counted)) return next;
    last = next;
    await sleep(250);
  }
  return last;
}
