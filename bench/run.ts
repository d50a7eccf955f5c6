/**
 * `npm run bench`: measures the product against the floor and the polling design in one run,
 * prints a table and writes bench/results.json. See the README's Performance section, and
 * bench/PROFILE.md for where the throughput overhead goes (bench/profile.ts, bench/watch-cost.ts).
 *
 * Environment: BENCH_QUICK=1 for a short smoke run (fewer samples, 1,000 sessions at most, a
 * fleet of 10); BENCH_OUT=<file> to write the results elsewhere; BENCH_ONLY=throughput, fleet,
 * wrap, backends, calls or catalog to run only that section (docs/bench.md) and merge it into the
 * existing results file, leaving every other section of it as it was.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { snapshotPath } from '../shared/paths.js';
import { measureBackends, type Backends } from './backends.js';
import { measureCalls, type CallsResult } from './calls.js';
import { measureCatalog, type CatalogResult } from './catalog.js';
import { measureChurn } from './churn.js';
import { measureFleet, type FleetOptions, type FleetResult } from './fleet.js';
import { measureFloor } from './floor.js';
import { measureLatency, type LatencySample } from './latency.js';
import { cleanupAll, ROOT, startApi } from './lib/procs.js';
import { SseStream } from './lib/http.js';
import { dist, median, round } from './lib/stats.js';
import { measurePolling } from './polling.js';
import { grow, scaleRow, visibleCount, type ScaleRow } from './scale.js';
import { measureThroughput, type Throughput } from './throughput.js';
import { measureWrap, type WrapResult } from './wrap.js';

const QUICK = process.env.BENCH_QUICK === '1';
const OUT = process.env.BENCH_OUT ?? path.join(ROOT, 'bench', 'results.json');
const ROUNDS = 3;
const PER_ROUND = QUICK ? 20 : 70;
const SIZES = QUICK ? [100, 1000] : [100, 1000, 10_000];
const ONLY = process.env.BENCH_ONLY;
/** The fleet: 100 children at rest and 10 x 100 sessions churning (QUICK: 10, and 5 x 20). */
const FLEET: FleetOptions = QUICK
  ? { children: 10, samples: 20, idleSeconds: 5, churnChildren: 5, churnSessions: 20, churnSeconds: 3, log }
  : { children: 100, samples: 100, idleSeconds: 10, churnChildren: 10, churnSessions: 100, churnSeconds: 10, log };

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

async function main(): Promise<void> {
  const began = Date.now();
  const machine = { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', memGb: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.platform()} ${os.release()}`, loadavg: os.loadavg().map((v) => round(v, 2)), at: new Date().toISOString() };

  // (1), (2) and the first row of (5) share one product holding 100 idle sessions.
  log('starting the API and its child; opening 100 sessions');
  const api = await startApi(['--max-sessions', '20000', '--session-idle-ms', '3600000']);
  const sse = new SseStream();
  await sse.open(`${api.url}/api/mcp/events`);
  const sids: string[] = [];
  let growth = await grow(api, sids, SIZES[0]!);
  let settle = await visibleCount(api, sids.length);
  const bytes100 = (await stat(snapshotPath(api.stateDir, 'default'))).size;

  const floorMs: number[] = [];
  let floorMissed = 0;
  const viaSse: LatencySample[] = [];
  const viaRest: LatencySample[] = [];
  const rounds: { floorP50: number; sseP50: number; restP50: number }[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    log(`round ${r}/${ROUNDS}: floor, SSE and REST latency, ${PER_ROUND} each`);
    const f = await measureFloor(PER_ROUND, bytes100);
    floorMs.push(...f.ms);
    floorMissed += f.missed;
    const s = await measureLatency(api, sse, 'sse', PER_ROUND);
    const q = await measureLatency(api, sse, 'rest', PER_ROUND);
    viaSse.push(...s);
    viaRest.push(...q);
    rounds.push({ floorP50: dist(f.ms).p50, sseP50: dist(s.map((x) => x.ms)).p50, restP50: dist(q.map((x) => x.ms)).p50 });
  }
  const latencySse = dist(viaSse.map((s) => s.ms));
  const latencyRest = dist(viaRest.map((s) => s.ms));
  const floor = dist(floorMs);

  const scale: ScaleRow[] = [];
  for (const size of SIZES) {
    if (size > sids.length) {
      log(`opening sessions up to ${size}`);
      growth = await grow(api, sids, size);
      settle = await visibleCount(api, sids.length, 120_000);
    }
    log(`measuring at ${size} sessions`);
    scale.push(await scaleRow(api, sse, sids, growth, settle, QUICK ? 10 : 20));
  }
  sse.close();
  await api.close();

  log('polling reference (2000 ms)');
  const polling = dist(await measurePolling(QUICK ? 10 : 30, 2000, 3));

  log('throughput, monitoring on vs off, v1 and v2 auto clients');
  const throughput = await measureThroughput(THROUGHPUT.rounds, THROUGHPUT.clients, THROUGHPUT.seconds);

  log('calls journal: tools/call with --calls on vs off');
  const calls = await measureCalls(CALLS);

  log('catalog: a 500-tool catalog on each snapshot write');
  const catalog = await measureCatalog(CATALOG);

  log('churn');
  const churn = await measureChurn(QUICK ? 3 : 10, 4);

  log('backends: server-everything direct, through nginx, a bare node:http proxy, --upstream, --command');
  const backends = await measureBackends(...BACKENDS);

  log(`fleet: one API, ${FLEET.children} children; churn on ${FLEET.churnChildren} x ${FLEET.churnSessions} sessions`);
  const fleet = await measureFleet(FLEET);

  log('wrap: server-everything over stdio, launched directly and through wrap');
  const wrap = await measureWrap(WRAP);

  const results = {
    machine,
    quick: QUICK,
    durationS: round((Date.now() - began) / 1000, 1),
    snapshotBytesAt100: bytes100,
    latencyRestMs: { ...latencyRest, fromConnectCallP50: dist(viaRest.map((s) => s.fromCallMs)).p50, visibleBeforeConnectResolved: viaRest.filter((s) => s.early).length },
    latencySseMs: { ...latencySse, fromConnectCallP50: dist(viaSse.map((s) => s.fromCallMs)).p50, visibleBeforeConnectResolved: viaSse.filter((s) => s.early).length },
    floorMs: { ...floor, missed: floorMissed },
    rounds,
    pollingMs: { ...polling, intervalMs: 2000 },
    ratios: {
      restP50OverFloorP50: round(latencyRest.p50 / floor.p50, 2),
      sseP50OverFloorP50: round(latencySse.p50 / floor.p50, 2),
      sseP50OverFloorP50PerRound: rounds.map((r) => round(r.sseP50 / r.floorP50, 2)),
      pollingMeanOverSseP50: round(polling.mean / latencySse.p50, 1),
      pollingMeanOverRestP50: round(polling.mean / latencyRest.p50, 1),
      pollingP50OverSseP50: round(polling.p50 / latencySse.p50, 1),
      throughputOnOverOff: throughput.ratio,
      throughputModernOnOverOff: throughput.modern.ratio,
      upstreamRpsRatio: backends.upstreamRpsRatio,
      callsRpsRatio: calls.rpsRatio,
    },
    throughput,
    calls,
    catalog,
    scale,
    churn,
    backends,
    fleet,
    wrap,
  };
  await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
  printTable(results);
  log(`wrote ${path.relative(process.cwd(), OUT) || OUT} in ${results.durationS} s`);
}

/** The throughput section: 8 clients of each SDK, alternating rounds of monitoring on and off, 2 s a run. */
const THROUGHPUT = { rounds: QUICK ? 2 : 12, clients: 8, seconds: 2 };

/** The wrap section: alternating rounds of one client calling back to back. */
const WRAP = { rounds: QUICK ? 2 : 6, seconds: QUICK ? 1 : 3, log };

/** The backends section: rounds, clients, seconds a run, sequential calls a round. */
const BACKENDS = [QUICK ? 2 : 6, 8, 2, QUICK ? 100 : 300, log] as const;

/** The calls section: 8 v1 clients, alternating rounds of the journal on and off. */
const CALLS = { rounds: QUICK ? 2 : 10, clients: 8, seconds: QUICK ? 1 : 3, log };

/** The catalog section: writes timed per side in process, seconds of the children's CPU per write. */
const CATALOG = { writes: QUICK ? 50 : 400, seconds: QUICK ? 3 : 10, log };

/** BENCH_ONLY=<section>: runs one section alone and replaces it in the results file, the rest left as it was. */
async function onlySection<T>(name: string, measure: () => Promise<T>, rows: (r: T) => [string, string, string][]): Promise<void> {
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(await readFile(OUT, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const result = await measure();
  await writeFile(OUT, `${JSON.stringify({ ...previous, [name]: { at: new Date().toISOString(), ...result, quick: QUICK, node: process.version, cores: os.availableParallelism() } }, null, 2)}\n`);
  process.stdout.write(`\nmcp-monitor bench, ${name} only: ${os.availableParallelism()} cores, Node ${process.version}\n\n`);
  printRows(rows(result));
  log(`merged ${name} into ${path.relative(process.cwd(), OUT) || OUT}`);
}

function throughputRows(t: Throughput): [string, string, string][] {
  const m = t.modern;
  const cpu = (p: Pick<Throughput, 'cpuUsPerCall' | 'cpuUsPerCallOn'>): string => `${p.cpuUsPerCall.on} / ${p.cpuUsPerCall.off} us`;
  const share = (p: Pick<Throughput, 'cpuUsPerCallOn' | 'monitoringCpuShare'>): string =>
    `monitoring ${p.monitoringCpuShare} of on (target <= 0.05); on = child ${p.cpuUsPerCallOn.child} + API ${p.cpuUsPerCallOn.api} us`;
  return [
    ['tools/call rps on / off, v1 client', `${t.onRps} / ${t.offRps}`, `ratio ${t.ratio} (target >= 0.95); CPU on: child ${t.cpuPct.onChild}% + API ${t.cpuPct.onApi}%, off: ${t.cpuPct.off}%`],
    ['  CPU per call on / off, v1 client', cpu(t), share(t)],
    ['tools/call rps on / off, v2 auto client', `${m.rpsOn} / ${m.rpsOff}`, `ratio ${m.ratio}, era ${m.era}; CPU on: child ${m.cpuPct.onChild}% + API ${m.cpuPct.onApi}%, off: ${m.cpuPct.off}%`],
    ['  CPU per call on / off, v2 auto client', cpu(m), share(m)],
    ['tools/call counted in operations', `${t.operations.counted ?? 'none'} of ${t.operations.callsSent}`, `errors ${t.operations.errors ?? '-'}, p50 ~${t.operations.p50Ms ?? '-'} ms (from the buckets)`],
  ];
}

function wrapRows(w: WrapResult): [string, string, string][] {
  return [
    ['server-everything over stdio, direct', `${w.direct.rps} rps, p50 / p99 ${w.direct.p50Ms} / ${w.direct.p99Ms} ms`, `1 v1 client back to back, ${w.rounds} rounds of ${w.seconds} s`],
    ['  through a bare Node relay (anchor)', `${w.relay.rps} rps, p50 / p99 ${w.relay.p50Ms} / ${w.relay.p99Ms} ms`, `ratio ${w.relayRpsRatio}, added p50 ${w.relayAddedP50Ms} ms, relay CPU ${w.relayCpuUsPerCall} us/call`],
    ['  through wrap', `${w.wrapped.rps} rps, p50 / p99 ${w.wrapped.p50Ms} / ${w.wrapped.p99Ms} ms`, `ratio ${w.rpsRatio} (target >= 0.95), added p50 ${w.addedP50Ms} ms (target < 0.1 ms), wrapper CPU ${w.wrapperCpuUsPerCall} us/call; ${w.wrapOverRelayRps} of the relay`],
  ];
}

function backendsRows(b: Backends): [string, string, string][] {
  const n = b.nginx;
  return [
    ['server-everything direct', `${b.direct.rps} rps, p50 / p99 ${b.direct.p50Ms} / ${b.direct.p99Ms} ms`, `${b.clients} clients for the rps, 1 for the latency`],
    n
      ? ['  through nginx (anchor)', `${n.rps} rps, p50 / p99 ${n.p50Ms} / ${n.p99Ms} ms`, `ratio ${b.nginxRpsRatio}, added p50 ${b.nginxAddedP50Ms} ms, nginx CPU ${b.nginxCpuUsPerCall} us/call`]
      : ['  through nginx (anchor)', 'not measured', b.nginxMissing ?? ''],
    ['  through a TCP relay (no HTTP)', `${b.tcpRelay.rps} rps, p50 / p99 ${b.tcpRelay.p50Ms} / ${b.tcpRelay.p99Ms} ms`, `CPU ${b.tcpRelayCpuUsPerCall} us/call: moving the bytes through a Node process`],
    ['  through a bare node:http proxy', `${b.bareNode.rps} rps, p50 / p99 ${b.bareNode.p50Ms} / ${b.bareNode.p99Ms} ms`, `${b.bareNodeOverNginxRps ?? '-'} of nginx, CPU ${b.bareNodeCpuUsPerCall} us/call: the floor on node:http`],
    ['  through --upstream', `${b.upstream.rps} rps, p50 / p99 ${b.upstream.p50Ms} / ${b.upstream.p99Ms} ms`, `ratio ${b.upstreamRpsRatio}, ${b.upstreamOverNginxRps ?? '-'} of nginx (target >= 0.95), added p50 ${b.upstreamAddedP50Ms} ms (target < nginx's + 0.2), child CPU ${b.upstreamCpuUsPerCall} us/call (API ${b.upstreamApiCpuUsPerCall})`],
    ['  through --command (stdio)', `${b.command.rps} rps, p50 / p99 ${b.command.p50Ms} / ${b.command.p99Ms} ms`, `initialize to first result p50 ${b.command.firstResultP50Ms} ms, p99 ${b.command.firstResultP99Ms} ms`],
  ];
}

function callsRows(c: CallsResult): [string, string, string][] {
  const l = c.linesWritten;
  return [
    ['tools/call rps, calls journal on / off', `${c.on.rps} / ${c.off.rps}`, `ratio ${c.rpsRatio} (target >= 0.97); ${c.clients} v1 clients, ${c.rounds} rounds of ${c.seconds} s`],
    ['  child CPU per call on / off', `${c.cpuUsPerCall.on} / ${c.cpuUsPerCall.off} us`, `added ${c.addedCpuUsPerCall} us; API ${c.apiCpuUsPerCall.on} / ${c.apiCpuUsPerCall.off} us`],
    ['  journal lines on / off', `${l.on} of ${l.expectedOn} calls / ${l.off}`, `one per call: ${l.match ? 'yes' : 'NO'}, nothing rotated away: ${l.complete ? 'yes' : 'no'}; callsDropped ${c.callsDropped}`],
  ];
}

function catalogRows(c: CatalogResult): [string, string, string][] {
  const ch = c.children;
  return [
    [`catalog of ${c.tools} tools: snapshot bytes`, `${c.snapshotBytes.without} without, ${c.snapshotBytes.with} with`, `added ${c.addedBytes} B (the catalog's JSON ${c.catalogJsonBytes} B) for ${c.definitionBytes.total} B of definitions; catalog as sent: ${c.catalogMatches ? 'yes' : 'NO'}`],
    ['  write, SnapshotWriter in process', `${c.writeMs.without} / ${c.writeMs.with} ms without / with`, `added ${c.addedWriteMs} ms (p50 of ${c.writes} each); serialize ${c.serializeMs.without} / ${c.serializeMs.with} ms`],
    [`  CPU per write, real children at ${ch.heartbeatMs} ms`, `child ${ch.childCpuMsPerWrite.without} / ${ch.childCpuMsPerWrite.with} ms`, `API ${ch.apiCpuMsPerWrite.without} / ${ch.apiCpuMsPerWrite.with} ms; ${ch.writes.without} / ${ch.writes.with} writes in ${ch.seconds} s`],
  ];
}

function fleetRows(f: FleetResult): [string, string, string][] {
  const l = f.latencyMs;
  const c = f.churn;
  return [
    [`fleet: ${f.children} children, API idle CPU`, `${f.apiIdleCpuPct}% of a core (${f.apiIdleCpuPctWithSse}% with an SSE subscriber)`, `target < 5%; children ${f.childIdleCpuPct}% each, ${f.childrenIdleCpuPctTotal}% together`],
    ['  start of all children', `${round(f.startMs / 1000, 1)} s`, `target < 60 s; ${f.startConcurrency} at a time`],
    ['  memory per child', `RSS ${f.rssPerChildMiB} MiB, Pss ${f.pssPerChildMiB} MiB`, `API RSS ${f.apiRssMiB} MiB`],
    ['  handles: API / per child', `${f.apiHandles.fds} / ${f.childHandles.fds} fds`, `inotify API ${f.apiHandles.inotifyInstances} instances ${f.apiHandles.inotifyWatches} watches, child ${f.childHandles.inotifyInstances} / ${f.childHandles.inotifyWatches}`],
    ['  latency p50 / p99 / max', `${l.p50} / ${l.p99} / ${l.max} ms`, `n=${l.n}, ${l.stream} SSE at ${l.framesPerSec} frames/s; target p99 < 50 ms; gone p50 / p99 ${l.gone.p50} / ${l.gone.p99} ms`],
    [`  churn: ${c.children} x ${c.sessionsEach} sessions`, `${c.changesPerSec} changes/s, final state seen ${c.finalStateSeen}`, `${c.finalLagMs} ms after the last change; CPU API ${c.apiCpuPct}%, children ${c.childrenCpuPct}%`],
  ];
}

function printRows(rows: [string, string, string][]): void {
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}\n`);
  process.stdout.write('\n');
}

function printTable(r: any): void {
  const rows: [string, string, string][] = [
    ['latency REST p50 / p99 / max', `${r.latencyRestMs.p50} / ${r.latencyRestMs.p99} / ${r.latencyRestMs.max} ms`, `n=${r.latencyRestMs.n}`],
    ['latency SSE  p50 / p99 / max', `${r.latencySseMs.p50} / ${r.latencySseMs.p99} / ${r.latencySseMs.max} ms`, `n=${r.latencySseMs.n}`],
    ['floor (rename -> fs.watch) p50 / p99', `${r.floorMs.p50} / ${r.floorMs.p99} ms`, `n=${r.floorMs.n}, ${r.snapshotBytesAt100} B`],
    ['ours / floor (p50)', `REST ${r.ratios.restP50OverFloorP50}x, SSE ${r.ratios.sseP50OverFloorP50}x`, 'target <= 3x'],
    ['polling every 2000 ms p50 / mean', `${r.pollingMs.p50} / ${r.pollingMs.mean} ms`, `n=${r.pollingMs.n}`],
    ['polling mean / ours (p50)', `SSE ${r.ratios.pollingMeanOverSseP50}x, REST ${r.ratios.pollingMeanOverRestP50}x`, 'target >= 100x'],
    ...throughputRows(r.throughput),
    ...r.scale.map((s: ScaleRow) => [
      `${s.sessions} sessions`,
      `${(s.snapshotBytes / 1024).toFixed(0)} KiB, write ${s.writeMs} ms, read ${s.readMs} ms`,
      `RSS api ${s.apiRssMb} / child ${s.childRssMb} MiB, latency p50 SSE ${s.latencyP50Ms} REST ${s.latencyRestP50Ms} ms, all seen ${s.allSeen}`,
    ] as [string, string, string]),
    ...backendsRows(r.backends),
    ['churn', `${r.churn.changesPerSec} changes/s, ${r.churn.writesPerSec} writes/s`, `max lag ${r.churn.maxLagMs} ms, final ${r.churn.finalLagMs} ms, CPU ${r.churn.cpuPct}% (child ${r.churn.childCpuPct}, api ${r.churn.apiCpuPct}), final seen ${r.churn.finalStateSeen}`],
    ...callsRows(r.calls),
    ...catalogRows(r.catalog),
    ...fleetRows(r.fleet),
    ...wrapRows(r.wrap),
  ];
  process.stdout.write(`\nmcp-monitor bench: ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.at}\n\n`);
  printRows(rows);
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    log(`${sig}: cleaning up`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

try {
  if (ONLY === undefined) await main();
  else if (ONLY === 'throughput') await onlySection('throughput', () => measureThroughput(THROUGHPUT.rounds, THROUGHPUT.clients, THROUGHPUT.seconds), throughputRows);
  else if (ONLY === 'fleet') await onlySection('fleet', () => measureFleet(FLEET), fleetRows);
  else if (ONLY === 'wrap') await onlySection('wrap', () => measureWrap(WRAP), wrapRows);
  else if (ONLY === 'backends') await onlySection('backends', () => measureBackends(...BACKENDS), backendsRows);
  else if (ONLY === 'calls') await onlySection('calls', () => measureCalls(CALLS), callsRows);
  else if (ONLY === 'catalog') await onlySection('catalog', () => measureCatalog(CATALOG), catalogRows);
  else throw new Error(`BENCH_ONLY: ${JSON.stringify(ONLY)} is not a section that runs alone (throughput, fleet, wrap, backends, calls, catalog)`);
} catch (err) {
  if (!interrupted) {
    process.stderr.write(`bench: failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  }
} finally {
  await cleanupAll();
}
// Keep-alive sockets and SDK clients may hold the loop open; everything we made is gone now.
process.exit(process.exitCode ?? 0);
