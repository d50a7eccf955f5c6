/**
 * Where the throughput goes: runs the `tools/call` load of (4) against monitoring on (API +
 * child) and off (bench/mcp-only-server.ts) with V8's CPU profiler in all three processes,
 * then prints, per request, what each process spent in which module and function during the
 * timed windows only (start-up and shutdown left out). Findings go in bench/PROFILE.md.
 *
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/.bench/bench/profile.js
 *
 * Environment: BENCH_PROFILE_SECONDS (per window, default 5), BENCH_PROFILE_ROUNDS (windows
 * per side, alternating, default 2), BENCH_PROFILE_CLIENT=v1|v2 (default v1),
 * BENCH_PROFILE_DIR=<dir> to keep the .cpuprofile files (open them in Chrome DevTools),
 * BENCH_PROFILE_SSE=<n> to hold n `GET /api/mcp/events` streams open (the fan-out's cost),
 * BENCH_PROFILE_OFF=calls to compare with the real product run with `--calls off` instead of the
 * bare server (what the calls journal costs, docs/bench.md).
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { readSnapshotFile } from '../shared/io/read-snapshot.js';
import { snapshotPath } from '../shared/paths.js';
import { nowMs, waitUntil } from './lib/clock.js';
import { summarize, top, type ProfileSummary, type Times } from './lib/cpu-profile.js';
import { SseStream } from './lib/http.js';
import { load, type ClientKind } from './lib/load.js';
import { BENCH_DIST, cleanupAll, spawnNode, startApi, stop, tempDir } from './lib/procs.js';

const SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_PROFILE_ROUNDS ?? 2);
const KIND = (process.env.BENCH_PROFILE_CLIENT ?? 'v1') as ClientKind;
const CLIENTS = 8;
const SSE_STREAMS = Number(process.env.BENCH_PROFILE_SSE ?? 0);
/** The "off" side: the bare server (default), or the product with `--calls off`. */
const OFF = process.env.BENCH_PROFILE_OFF ?? 'bare';
if (OFF !== 'bare' && OFF !== 'calls') throw new Error(`BENCH_PROFILE_OFF: ${JSON.stringify(OFF)} is not bare or calls`);
/** Sampling interval, µs: fine enough for functions of a few µs per request. */
const INTERVAL_US = 100;

function log(msg: string): void {
  process.stderr.write(`profile: ${msg}\n`);
}

async function profileOf(dir: string, pid: number): Promise<string> {
  const f = (await readdir(dir)).find((n) => n.endsWith('.cpuprofile') && n.includes(`.${pid}.`));
  if (!f) throw new Error(`profile: no CPU profile of pid ${pid} in ${dir} (did it exit cleanly?)`);
  return path.join(dir, f);
}

const any = (...names: string[]) => (m: string) => names.some((n) => m === n || m.startsWith(`${n}/`));
/** What monitoring adds to the child; host-check and registry also run with monitoring off. */
const CHILD_GROUPS = {
  'snapshot writer (build, serialize, write, lock check)': any('ours:server/publish/snapshot-writer', 'ours:shared/io/write-file-no-follow', 'ours:server/publish/writer-lock', 'ours:shared/snapshot'),
  'journal': any('ours:server/publish/journal-writer', 'ours:server/publish/session-journal', 'ours:shared/journal'),
  'calls journal (queue, lines, batched writes)': any('ours:server/publish/calls-journal', 'ours:server/publish/rotating-file', 'ours:shared/calls'),
  'request seam (finished requests, outcome)': any('ours:server/operations/finished-request', 'ours:server/operations/request-outcome', 'ours:server/operations/operation-tap'),
  'operation recorder': any('ours:server/operations/operation-recorder', 'ours:shared/operations'),
  'session registry (touch, events)': any('ours:server/sessions/session-registry'),
  'Host check': any('ours:shared/host-check'),
  'logging (pino)': any('pino', 'sonic-boom', 'thread-stream', 'ours:shared/io/logger'),
  'MCP SDK': any('@modelcontextprotocol/sdk', '@modelcontextprotocol/server', '@modelcontextprotocol/core', '@modelcontextprotocol/node'),
  'Express, router, body-parser': any('express', 'router', 'body-parser', 'raw-body'),
  zod: any('zod'),
  GC: (m: string) => m === '(gc)',
};
const API_GROUPS = {
  'chokidar, readdirp': any('chokidar', 'readdirp'),
  'snapshot watcher (read, validate)': any('ours:api/snapshot-watcher', 'ours:shared/io/read-snapshot', 'ours:shared/snapshot', 'ours:shared/serial-task', 'ours:shared/io/file-key'),
  'SSE hub': any('ours:api/sse-hub'),
  'socket.io': any('socket.io', 'engine.io', 'ws', 'ours:api/monitoring-namespace'),
  'supervisor, child stderr': any('ours:api/child-supervisor'),
  'logging (pino)': any('pino', 'sonic-boom', 'thread-stream', 'ours:shared/io/logger'),
  GC: (m: string) => m === '(gc)',
};

const us = (ms: number, calls: number) => ((ms * 1000) / calls).toFixed(1);

function table(title: string, rows: [string, number][], calls: number): string {
  return `\n#### ${title}\n\n| µs/request | ms | |\n|---:|---:|---|\n${rows.map(([k, v]) => `| ${us(v, calls)} | ${v.toFixed(1)} | \`${k}\` |`).join('\n')}\n`;
}

function section(name: string, s: ProfileSummary, calls: number): string {
  return `\n### ${name}: ${calls} calls, busy ${s.busyMs.toFixed(0)} of ${s.windowMs.toFixed(0)} ms sampled = **${us(s.busyMs, calls)} µs/request**\n`
    + (s.inclusiveGroups.size ? table('inclusive time by group (a sample counts once per group)', top(s.inclusiveGroups, 20), calls) : '')
    + table('self time by module', top(s.selfByModule, 18), calls)
    + table('self time by function', top(s.selfByFunction, 30), calls)
    + (s.inclusiveOurs.size ? table("inclusive time of the project's functions", top(s.inclusiveOurs, 25), calls) : '');
}

/** Per-request difference by module, on minus off, largest first. */
function diff(on: Times, onCalls: number, off: Times, offCalls: number, what = 'child'): string {
  const keys = new Set([...on.keys(), ...off.keys()]);
  const rows = [...keys].map((k) => [k, ((on.get(k) ?? 0) * 1000) / onCalls, ((off.get(k) ?? 0) * 1000) / offCalls] as const)
    .map(([k, a, b]) => [k, a, b, a - b] as const)
    .filter(([k]) => k !== '(idle)')
    .sort((x, y) => Math.abs(y[3]) - Math.abs(x[3]))
    .slice(0, 22);
  return `\n### ${what} on minus ${what} off, self time by module (µs/request)\n\n| on | off | on - off | module |\n|---:|---:|---:|---|\n${rows.map(([k, a, b, d]) => `| ${a.toFixed(1)} | ${b.toFixed(1)} | ${d >= 0 ? '+' : ''}${d.toFixed(1)} | \`${k}\` |`).join('\n')}\n`;
}

async function main(): Promise<void> {
  const dir = process.env.BENCH_PROFILE_DIR ? path.resolve(process.env.BENCH_PROFILE_DIR) : await tempDir('prof');
  const onDir = path.join(dir, 'on');
  const offDir = path.join(dir, 'off');
  await mkdir(onDir, { recursive: true });
  await mkdir(offDir, { recursive: true });
  log(`profiles in ${dir}; ${ROUNDS} x ${SECONDS} s per side, ${CLIENTS} ${KIND} clients`);
  // NODE_OPTIONS reaches the API and, through it, the child; it may not hold --cpu-prof itself.
  const preload = path.join(BENCH_DIST, 'lib', 'cpu-prof-preload.js');
  const profiled = (to: string) => ({
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${preload}`].filter(Boolean).join(' '),
    BENCH_CPU_PROFILE_DIR: to,
    BENCH_CPU_PROFILE_INTERVAL_US: String(INTERVAL_US),
  });
  const api = await startApi([], profiled(onDir));
  // The same profiler, the same way, on the off side: the bare server, or the product without the calls journal.
  const offApi = OFF === 'calls' ? await startApi(['--calls', 'off'], profiled(offDir)) : undefined;
  const off = offApi ? undefined : spawnNode([`--import=${preload}`, path.join(BENCH_DIST, 'mcp-only-server.js')], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, MCP_MONITOR_LOG_LEVEL: 'info', ...profiled(offDir) },
  });
  let offUrl = offApi?.mcpUrl;
  off?.on('message', (m: { url?: string }) => (offUrl = m.url));
  await waitUntil(() => offUrl, 10_000, 'the monitoring-off server');
  const offPid = offApi?.childPid ?? off!.pid!;
  const file = snapshotPath(api.stateDir, 'default');
  const streams = Array.from({ length: SSE_STREAMS }, () => new SseStream(100));
  for (const st of streams) await st.open(`${api.url}/api/mcp/events`);

  await load(offUrl!, KIND, CLIENTS, 1);
  await load(api.mcpUrl, KIND, CLIENTS, 1);
  const windows = { on: [] as [number, number][], off: [] as [number, number][] };
  const calls = { on: 0, off: 0 };
  let writes = 0;
  const run = async (side: 'on' | 'off') => {
    const seq0 = side === 'on' ? (await readSnapshotFile(file)).seq : 0;
    const t0 = nowMs();
    const r = await load(side === 'on' ? api.mcpUrl : offUrl!, KIND, CLIENTS, SECONDS);
    const t1 = nowMs();
    // The load's timed part is the window less the warm-up and connects (~0.3 s): the window
    // holds them too, and its calls are all the calls in it.
    windows[side].push([t0, t1]);
    calls[side] += r.totalCalls;
    if (side === 'on') writes += (await readSnapshotFile(file)).seq - seq0;
    log(`${side}: ${r.rps.toFixed(0)} calls/s`);
  };
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) await run(side);
  }
  for (const st of streams) st.close();
  const { apiPid, childPid } = api;
  // The off server holds its IPC channel open: disconnecting ends it the natural way (a
  // SIGKILL after the grace would lose its profile).
  if (off) {
    off.disconnect();
    await stop(off);
  }
  await offApi?.close();
  await api.close();

  const child = await summarize(await profileOf(onDir, childPid), windows.on, CHILD_GROUPS);
  const apiS = await summarize(await profileOf(onDir, apiPid), windows.on, API_GROUPS);
  const bare = await summarize(await profileOf(offDir, offPid), windows.off, CHILD_GROUPS);
  const offApiS = offApi ? await summarize(await profileOf(offDir, offApi.apiPid), windows.off, API_GROUPS) : undefined;
  let out = `## Profile: ${KIND} clients, ${CLIENTS} at once, ${SSE_STREAMS} SSE streams, ${ROUNDS} x ${SECONDS} s per side, off = ${offApi ? 'the product with --calls off' : 'the bare server'}, sampled every ${INTERVAL_US} µs\n`;
  out += `\nOn: ${calls.on} calls, ${writes} snapshot writes (${(calls.on / Math.max(writes, 1)).toFixed(0)} calls per write). `;
  out += `Busy per request: child on ${us(child.busyMs, calls.on)} µs + API ${us(apiS.busyMs, calls.on)} µs; child off ${us(bare.busyMs, calls.off)} µs${offApiS ? ` + API ${us(offApiS.busyMs, calls.off)} µs` : ''}.\n`;
  out += diff(child.selfByModule, calls.on, bare.selfByModule, calls.off);
  if (offApiS) out += diff(apiS.selfByModule, calls.on, offApiS.selfByModule, calls.off, 'API');
  out += section('child, monitoring on', child, calls.on);
  out += section(offApi ? 'child, --calls off' : 'child, monitoring off (mcp-only-server)', bare, calls.off);
  out += section('API, monitoring on', apiS, calls.on);
  if (offApiS) out += section('API, --calls off', offApiS, calls.off);
  out += `\nAPI per snapshot write: ${(apiS.busyMs / Math.max(writes, 1)).toFixed(2)} ms busy.\n`;
  process.stdout.write(out);
}

try {
  await main();
} catch (err) {
  process.stderr.write(`profile: failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
process.exit(process.exitCode ?? 0);
