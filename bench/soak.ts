/**
 * The soak: the real product under load and faults for SOAK_MINUTES (default 30),
 * then a proof from the files that nothing was lost. `npm run soak`; SOAK_SEED replays a run.
 *
 * One API, three servers from a config file: the built-in server, server-memory
 * over stdio (`command`), and server-everything behind `upstream`. Real SDK clients of both
 * versions open sessions, call a tool and leave, without pause. Every 8 to 14 s one fault
 * (soak/faults.ts). At the end the API is stopped with SIGTERM and soak/check.ts reads the
 * journals and snapshots. Results: bench/soak.json and docs/bench.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { rng } from '../test/helpers/fuzz-requests.js';
import { nowMs, sleep, waitUntil } from './lib/clock.js';
import { getJson } from './lib/http.js';
import type { ClientKind } from './lib/load.js';
import { freePort } from './lib/ports.js';
import { cleanupAll, removeDir, ROOT, rssMb, spawnApi, stop, tempDir } from './lib/procs.js';
import { round } from './lib/stats.js';
import { checkServer, type ServerVerdict } from './soak/check.js';
import { FAULT_KINDS, injectFault, type FaultWindow } from './soak/faults.js';
import { clientLoop, SoakLedger, type SoakTarget } from './soak/load.js';
import { mountSmallDisk, unmountSmallDisk } from './soak/small-disk.js';
import { Upstream } from './soak/upstream.js';
import { heapSnapshotEnv, judgeGrowth, judgeHeaps, liveHeaps, LivenessProbe, sample, type Sample } from './soak/vitals.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const SEED = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** The load runs this long before the figures that the last ones are compared with (soak/vitals.ts), over windows this long. */
const WARMUP_MIN = Math.min(5, MINUTES / 5);
const WINDOW_MIN = Math.min(5, MINUTES / 5);
const MEMORY = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');

/** Processes whose environment names `marker` (the soak's stdio processes), still alive. */
function processesWith(marker: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').includes(marker) ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

/** The small disk while it is mounted (unmounted however the run ends). */
let mounted: string | undefined;

async function main(): Promise<void> {
  const rand = rng(SEED);
  console.log(`soak: ${MINUTES} min, SOAK_SEED=${SEED}`);
  const dir = await tempDir('soak');
  const upstream = new Upstream(await freePort());
  await upstream.start();
  const memoryFile = path.join(dir, 'memory.jsonl');
  const ports = { builtin: await freePort(), memory: await freePort(), proxy: await freePort() };
  const common = { heartbeatMs: 1000, sessionIdleMs: 15_000 };
  const config = path.join(dir, 'soak.json');
  await writeFile(config, JSON.stringify({
    servers: [
      { id: 'builtin', mcpPort: ports.builtin, ...common },
      { id: 'memory', command: [process.execPath, MEMORY], env: { MEMORY_FILE_PATH: memoryFile }, mcpPort: ports.memory, maxSessions: 16, ...common },
      { id: 'proxy', upstream: upstream.url, mcpPort: ports.proxy, ...common },
    ],
  }));
  // The state directory on a small disk of its own, which the fill-disk fault fills.
  const stateDir = await tempDir('state');
  const smallDisk = mountSmallDisk(stateDir, 64);
  if (smallDisk) mounted = stateDir;
  console.log(smallDisk ? `soak: state directory on a 64 MiB tmpfs (${stateDir})` : 'soak: no tmpfs could be mounted here (root on Linux needed); the fill-disk fault is left out');
  const heapDir = await tempDir('heap');
  const api = await spawnApi(['--config', config], heapSnapshotEnv(heapDir), stateDir);
  // What the API and its children logged at warn and above, by message: the run's findings.
  const logged = new Map<string, { count: number; first: string }>();
  let partial = '';
  api.child.stderr!.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      try {
        const j = JSON.parse(l) as { level?: number; msg?: string; serverId?: string };
        if ((j.level ?? 0) < 40) continue;
        const key = `${j.level} ${j.serverId ?? 'api'}: ${j.msg}`;
        const e = logged.get(key) ?? { count: 0, first: l.slice(0, 600) };
        e.count += 1;
        logged.set(key, e);
      } catch {
        const e = logged.get('not JSON') ?? { count: 0, first: l.slice(0, 600) };
        e.count += 1;
        logged.set('not JSON', e);
      }
    }
  });
  await waitUntil(async () => {
    const { servers } = await getJson<{ servers: { status: string }[] }>(`${api.url}/api/mcp/servers`);
    return servers.length === 3 && servers.every((s) => s.status === 'running');
  }, 60_000, 'three servers running', 100);

  const url = (port: number) => `http://127.0.0.1:${port}/mcp`;
  const targets: Array<SoakTarget> = [
    { serverId: 'builtin', url: url(ports.builtin), tool: { name: 'echo', arguments: { text: 'soak' } }, kinds: ['v1', 'v1', 'v2', 'v2'] },
    { serverId: 'memory', url: url(ports.memory), tool: { name: 'read_graph', arguments: {} }, kinds: ['v1', 'v1', 'v2'] },
    { serverId: 'proxy', url: url(ports.proxy), tool: { name: 'echo', arguments: { message: 'soak' } }, kinds: ['v1', 'v1', 'v2'] },
  ];
  const ledger = new SoakLedger();
  const endAt = nowMs() + MINUTES * 60_000;
  const stopped = () => nowMs() >= endAt;
  const loops = targets.flatMap((t) => t.kinds.map((k: ClientKind) => clientLoop(t, k, ledger, rng(Math.floor(rand() * 2 ** 31)), stopped)));

  const faults: FaultWindow[] = [];
  const faultErrors: string[] = [];
  const timeline: string[] = [];
  const ctx = {
    apiUrl: api.url, apiPid: api.apiPid, stateDir: api.stateDir, serverIds: targets.map((t) => t.serverId),
    commandServer: 'memory', proxyServer: 'proxy', killUpstream: () => upstream.kill(), startUpstream: () => upstream.start(), smallDisk, rand,
  };
  const atMin = () => MINUTES - (endAt - nowMs()) / 60_000;
  const samples: Sample[] = [];
  let warmHeaps: Record<string, number> | undefined;
  // A heap snapshot pauses its process for seconds: a fault of the server for its clients
  // (as a SIGSTOP is), a pause of the API for the liveness probe.
  const paused: Array<{ startMs: number; endMs: number }> = [];
  const heapPause = (id: string, startMs: number) => {
    if (id === 'api') paused.push({ startMs, endMs: nowMs() });
    else faults.push({ kind: 'heap-snapshot', serverId: id, startMs, endMs: nowMs() + 3000, monitoringOnly: false });
  };
  const sampler = (async () => {
    while (!stopped()) {
      const s = await sample(api.url, api.apiPid, atMin());
      if (s) samples.push(s);
      if (!warmHeaps && atMin() >= WARMUP_MIN) warmHeaps = await liveHeaps(api.url, api.apiPid, heapDir, heapPause);
      await sleep(10_000);
    }
  })().catch((err: Error) => faultErrors.push(`sampler: ${err.message}`));
  const liveness = new LivenessProbe(api.url);
  let lastReport = nowMs();
  while (!stopped()) {
    await sleep(8000 + rand() * 6000);
    if (stopped()) break;
    const kind = FAULT_KINDS[Math.floor(rand() * FAULT_KINDS.length)]!;
    try {
      const w = await injectFault(kind, ctx);
      if (w) faults.push(w);
      timeline.push(`${round(atMin(), 2)} min ${kind}${w ? ` ${w.serverId}` : ' (nothing to act on)'}`);
    } catch (err) {
      faultErrors.push(`${kind}: ${(err as Error).message}`);
      timeline.push(`${round(atMin(), 2)} min ${kind} FAILED: ${(err as Error).message}`);
    }
    if (nowMs() - lastReport > 60_000) {
      lastReport = nowMs();
      const calls = ledger.outcomes.filter((o) => o.what === 'call');
      const last = samples.at(-1);
      console.log(`soak: ${round(atMin(), 1)} min, ${faults.length} faults, ${calls.filter((o) => o.ok).length} calls ok, ${calls.filter((o) => !o.ok).length} failed, API ${last?.api.rssMiB} MiB ${last?.api.fds} fds`);
    }
  }
  await Promise.all(loops);
  await sampler;
  // Let DELETEs settle and the sessions that clients walked away from end idle: the figures at
  // the end are taken at rest, before the clean stop that must close every session.
  await sleep(common.sessionIdleMs + 3000);
  const endSample = await sample(api.url, api.apiPid, atMin());
  const alive = await liveness.stop([...paused, ...faults.filter((f) => f.kind === 'freeze-api')]);
  const endHeaps = await liveHeaps(api.url, api.apiPid, heapDir, () => undefined);
  await stop(api.child, 20_000);
  const apiExit = { code: api.child.exitCode, signal: api.child.signalCode };
  const leftProcesses = processesWith(`MEMORY_FILE_PATH=${memoryFile}`);
  await upstream.kill();

  const verdicts: ServerVerdict[] = [];
  for (const t of targets) verdicts.push(await checkServer(api.stateDir, t.serverId, t.tool.name, ledger, faults));
  const byKind: Record<string, number> = {};
  for (const f of faults) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  const lost = verdicts.reduce((n, v) => n + v.lostConnects.length + v.leftOpen.length + v.unexplained.length, 0);
  const totalsMatch = verdicts.every((v) => v.totalConnections === v.connectLines);
  const callsCounted = verdicts.every((v) => v.callsCounted);
  const growth = [...judgeGrowth([...samples, ...(endSample ? [endSample] : [])], WARMUP_MIN, WINDOW_MIN), ...judgeHeaps(warmHeaps ?? {}, endHeaps)];
  const noGrowth = growth.some((g) => g.what.endsWith('liveHeapMiB')) && growth.every((g) => g.ok || !g.judged);
  const pass = lost === 0 && totalsMatch && callsCounted && noGrowth && alive.longestGapUnfrozenMs < 2000 && leftProcesses.length === 0 && apiExit.code === 0 && faultErrors.length === 0;
  const result = {
    date: new Date().toISOString(), node: process.version, minutes: MINUTES, seed: SEED, pass,
    apiExit, leftProcesses, faults: byKind, faultErrors,
    servers: verdicts.map((v) => ({ ...v, lostConnects: v.lostConnects.slice(0, 10), leftOpen: v.leftOpen.slice(0, 10), unexplained: v.unexplained.slice(0, 10), lostCount: v.lostConnects.length, leftOpenCount: v.leftOpen.length, unexplainedCount: v.unexplained.length })),
    liveness: alive,
    warmupMin: WARMUP_MIN,
    windowMin: WINDOW_MIN,
    growth,
    samples: [...samples, ...(endSample ? [endSample] : [])],
    fuzz: faults.filter((f) => f.kind === 'fuzz').map((f) => f.note),
    logged: Object.fromEntries([...logged].sort((a, b) => b[1].count - a[1].count)),
    timeline,
  };
  await writeFile(path.join(ROOT, 'bench', 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify({ pass, faults: byKind, faultErrors, servers: result.servers.map((s) => ({ id: s.serverId, given: s.sessionsGiven, connects: s.connectLines, total: s.totalConnections, lost: s.lostCount, leftOpen: s.leftOpenCount, closedByStart: s.closedByStart, unexplained: s.unexplainedCount, callsOk: s.callsOk, callsFailed: s.callsFailed, recorded: s.callsRecorded, atRisk: s.callsAtRisk, reasons: s.disconnectReasons })), liveness: alive, growth }, null, 1));
  if (!pass) {
    // Copied off the small disk, which goes with the unmount below.
    const kept = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-soak-failed-'));
    await cp(stateDir, kept, { recursive: true });
    console.log(`soak: failed; the state directory is kept for a look: ${kept}`);
    process.exitCode = 1;
  }
  if (smallDisk) unmountSmallDisk(stateDir);
  mounted = undefined;
  await removeDir(stateDir);
  await removeDir(dir);
}

main()
  .catch((err: Error) => {
    console.error(`soak: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    // A lazy unmount first: the directory under it is then an ordinary one to remove.
    if (mounted) unmountSmallDisk(mounted);
    await cleanupAll();
  });
