/**
 * (8) Fleet: one API supervising many children (`mcp-monitor start --config FILE`, see
 * shared/config-file.ts). N built-in servers on port 0 with a 2 s heartbeat, so the API reads N/2
 * snapshots a second at rest, started by the API as many at a time as there are cores. Measured:
 * - the API's CPU at idle (no client connected) over `idleSeconds`, from /proc/<pid>/stat, in %
 *   of one core; the same with one SSE subscriber to all servers; the children's CPU beside it;
 * - memory: VmRSS of every child (mean) and of the API, and Pss (shared pages split) per child;
 * - what the processes hold of the per-user kernel limits: descriptors, inotify instances and
 *   watches (`handles`);
 * - change-to-visible latency while all N heartbeat: a bare `initialize` on a random one of the
 *   N, until a frame of the all-servers SSE stream shows the session; then DELETE until a frame
 *   of that server no longer has it;
 * - churn on a second fleet (bench/fleet-churn.ts).
 *
 * The latency uses the all-servers stream (`GET /api/mcp/events`, no `?serverId=`): it carries
 * every heartbeat of all N children, so the frame we wait for queues behind the others'. That is
 * the harder case, and what a dashboard of the whole fleet follows; `?serverId=` filters the
 * same hub after the read, so its latency can only be lower.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { nowMs, sleep } from './lib/clock.js';
import { startFleet, type Fleet } from './lib/fleet-api.js';
import { rawDelete, rawInitialize, SseStream } from './lib/http.js';
import { cpuSeconds, handles, pssMb, rssMb, type Handles } from './lib/procs.js';
import { dist, round, type Dist } from './lib/stats.js';
import { measureFleetChurn, type FleetChurn } from './fleet-churn.js';

/** CPU of the API and of each child over `seconds`, in % of one core. */
async function cpuOver(fleet: Fleet, seconds: number): Promise<{ api: number; children: number[] }> {
  const pids = fleet.servers.map((s) => s.pid);
  const api0 = cpuSeconds(fleet.api.apiPid);
  const ch0 = pids.map(cpuSeconds);
  const t0 = nowMs();
  await sleep(seconds * 1000);
  const wall = (nowMs() - t0) / 1000;
  const api1 = cpuSeconds(fleet.api.apiPid);
  return { api: ((api1 - api0) / wall) * 100, children: pids.map((p, i) => ((cpuSeconds(p) - ch0[i]!) / wall) * 100) };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / (xs.length || 1);

/** Handles of many processes: each field's mean. */
function meanHandles(hs: Handles[]): Handles {
  return { fds: round(mean(hs.map((h) => h.fds)), 1), inotifyInstances: round(mean(hs.map((h) => h.inotifyInstances)), 2), inotifyWatches: round(mean(hs.map((h) => h.inotifyWatches)), 1) };
}

export interface FleetLatency extends Dist {
  /** `initialize` sent -> visible (the child's handling of the POST included). */
  fromSendP50: number;
  /** Frames already showing the session when the `initialize` answer arrived (counted as 0 ms). */
  visibleBeforeAnswer: number;
  /** DELETE answered -> a frame of that server without the session. */
  gone: Dist;
  /** SSE frames a second on the stream while sampling (N / 2 s of heartbeats, plus our changes). */
  framesPerSec: number;
  stream: 'all-servers';
}

/** `n` sessions, one at a time, each on a random server of the fleet. */
async function sampleLatency(fleet: Fleet, sse: SseStream, n: number): Promise<FleetLatency> {
  const ms: number[] = [];
  const fromSend: number[] = [];
  const gone: number[] = [];
  let early = 0;
  let frames = 0;
  const stopCounting = sse.onFrame(() => frames++);
  const began = nowMs();
  for (let i = 0; i < n; i++) {
    const server = fleet.servers[Math.floor(Math.random() * fleet.servers.length)]!;
    const sent = nowMs();
    const sid = await rawInitialize(server.mcpUrl, 'bench-fleet');
    const answered = nowMs();
    // The session id is a UUID: only a snapshot of that server can hold it.
    const seen = await sse.when((d) => d.includes(sid), 10_000, sent);
    if (seen < answered) early++;
    ms.push(Math.max(0, seen - answered));
    fromSend.push(seen - sent);
    await rawDelete(server.mcpUrl, sid);
    const deleted = nowMs();
    // Snapshots of one server reach the stream in seq order, so its first frame without the
    // session after the DELETE is the one that shows it gone.
    const left = await sse.when((d) => !d.includes(sid) && (JSON.parse(d) as { serverId: string }).serverId === server.serverId, 10_000, deleted);
    gone.push(Math.max(0, left - deleted));
    // A random pause: do not run in step with the heartbeats.
    await sleep(2 + Math.random() * 15);
  }
  stopCounting();
  return { ...dist(ms), fromSendP50: dist(fromSend).p50, visibleBeforeAnswer: early, gone: dist(gone), framesPerSec: round(frames / ((nowMs() - began) / 1000), 1), stream: 'all-servers' };
}

export interface FleetResult {
  children: number;
  heartbeatMs: number;
  apiIdleCpuPct: number;
  rssPerChildMiB: number;
  latencyMs: FleetLatency;
  churn: FleetChurn;
  /** API listening -> all N children running (the API starts them as many at a time as there are cores). */
  startMs: number;
  startConcurrency: number;
  idleSeconds: number;
  /** The API's CPU at rest with one all-servers SSE subscriber (every heartbeat is sent to it). */
  apiIdleCpuPctWithSse: number;
  /** Each child's CPU at idle (mean), and all N together, in % of one core. */
  childIdleCpuPct: number;
  childrenIdleCpuPctTotal: number;
  pssPerChildMiB: number;
  apiRssMiB: number;
  apiHandles: Handles;
  childHandles: Handles;
  /** The per-user limits the inotify handles count against (fs.inotify.*). */
  limits: { maxUserInstances: number; maxUserWatches: number };
  /** Load average before and after, and when: the machine is shared. */
  loadavgBefore: number[];
  loadavgAfter: number[];
  at: string;
}

export interface FleetOptions {
  /** Children of the fleet measured at rest and for the latency (100 in a full run, see run.ts). */
  children: number;
  /** Latency samples (sessions opened and ended one at a time). */
  samples: number;
  /** Length of each idle CPU window. */
  idleSeconds: number;
  /** The churn's fleet: children, sessions held on each, and how long they churn. */
  churnChildren: number;
  churnSessions: number;
  churnSeconds: number;
  /** Heartbeat of every child. Default 2000 (the product's default). */
  heartbeatMs?: number;
  log?: (msg: string) => void;
}

/** A sysctl of one integer. */
const sysctl = (name: string) => Number.parseInt(readFileSync(`/proc/sys/${name}`, 'utf8'), 10);

/** Runs the fleet section: one fleet at rest and sampled for latency, then the churn's fleet. */
export async function measureFleet(o: FleetOptions): Promise<FleetResult> {
  const log = o.log ?? (() => {});
  const heartbeatMs = o.heartbeatMs ?? 2000;
  const loadavgBefore = os.loadavg().map((v) => round(v, 2));
  const at = new Date().toISOString();
  const startConcurrency = os.availableParallelism();
  log(`fleet: starting ${o.children} children (the API starts ${startConcurrency} at a time)`);
  const fleet = await startFleet(o.children, heartbeatMs);
  let idle: Awaited<ReturnType<typeof cpuOver>>;
  let idleSse: Awaited<ReturnType<typeof cpuOver>>;
  let latency: FleetLatency;
  let memory: { rss: number[]; pss: number[]; api: number };
  let apiHandles: Handles;
  let childHandles: Handles;
  const sse = new SseStream();
  try {
    // Past the start: every child has written a heartbeat since, and the start's reads are done.
    await sleep(Math.min(heartbeatMs * 1.5, 5000));
    log(`fleet: idle CPU over ${o.idleSeconds} s, no client`);
    idle = await cpuOver(fleet, o.idleSeconds);
    memory = { rss: fleet.servers.map((s) => rssMb(s.pid)), pss: fleet.servers.map((s) => pssMb(s.pid)), api: rssMb(fleet.api.apiPid) };
    apiHandles = handles(fleet.api.apiPid);
    childHandles = meanHandles(fleet.servers.map((s) => handles(s.pid)));
    await sse.open(`${fleet.api.url}/api/mcp/events`);
    log(`fleet: idle CPU over ${o.idleSeconds} s, one SSE subscriber`);
    idleSse = await cpuOver(fleet, o.idleSeconds);
    log(`fleet: latency, ${o.samples} sessions on random servers`);
    latency = await sampleLatency(fleet, sse, o.samples);
  } finally {
    sse.close();
    await fleet.close();
  }
  log(`fleet: churn, ${o.churnChildren} children x ${o.churnSessions} sessions for ${o.churnSeconds} s`);
  const churn = await measureFleetChurn(o.churnChildren, o.churnSessions, o.churnSeconds, heartbeatMs);
  return {
    children: o.children,
    heartbeatMs,
    apiIdleCpuPct: round(idle.api, 2),
    rssPerChildMiB: round(mean(memory.rss), 1),
    latencyMs: latency,
    churn,
    startMs: fleet.startMs,
    startConcurrency,
    idleSeconds: o.idleSeconds,
    apiIdleCpuPctWithSse: round(idleSse.api, 2),
    childIdleCpuPct: round(mean(idle.children), 2),
    childrenIdleCpuPctTotal: round(idle.children.reduce((a, b) => a + b, 0), 1),
    pssPerChildMiB: round(mean(memory.pss), 1),
    apiRssMiB: memory.api,
    apiHandles,
    childHandles,
    limits: { maxUserInstances: sysctl('fs/inotify/max_user_instances'), maxUserWatches: sysctl('fs/inotify/max_user_watches') },
    loadavgBefore,
    loadavgAfter: os.loadavg().map((v) => round(v, 2)),
    at,
  };
}
