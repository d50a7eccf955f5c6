/**
 * Where the `--upstream` proxy's CPU goes: the load of the bench's backends section (8 v1 SDK
 * clients calling server-everything's `echo`) through the real product, with V8's sampling
 * profiler in the child (bench/lib/cpu-prof-preload.ts); µs per request by group, module and
 * function, over the timed windows only. Beside it, the same load direct, to see what the
 * clients and the server cost on the same cores.
 *
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/.bench/bench/profile-upstream.js
 *
 * BENCH_PROFILE_ROUNDS (3), BENCH_PROFILE_SECONDS (4), BENCH_PROFILE_DIR (to keep the profiles).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { nowMs, waitUntil } from './lib/clock.js';
import { summarize } from './lib/cpu-profile.js';
import { load, type ToolCall } from './lib/load.js';
import { canConnect, freePort } from './lib/ports.js';
import { any, profileOf, section } from './lib/profile-report.js';
import { BENCH_DIST, cleanupAll, ROOT, spawnNode, startApi, stop, tempDir } from './lib/procs.js';

const ROUNDS = Number(process.env.BENCH_PROFILE_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 4);
const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const ECHO: ToolCall = { name: 'echo', arguments: { message: 'hello' } };

const GROUPS = {
  'front door (admission, body, JSON-RPC screen)': any('ours:server/endpoint'),
  'proxy (forward, hop headers, response reader)': any('ours:server/backends/upstream'),
  'sessions, clients, registry': any('ours:server/sessions'),
  'operations, request seam': any('ours:server/operations'),
  'snapshot writer, journals': any('ours:server/publish', 'ours:shared/io', 'ours:shared/snapshot', 'ours:shared/journal', 'ours:shared/calls'),
  'node:_http_server': (m: string) => m === 'node:_http_server',
  'node:_http_client, agent': (m: string) => m === 'node:_http_client' || m === 'node:_http_agent',
  'node:_http_outgoing, common': (m: string) => m === 'node:_http_outgoing' || m === 'node:_http_common',
  'node:net, stream': (m: string) => m === 'node:net' || m === 'node:streams' || m === 'node:stream',
  'logging (pino)': any('pino', 'sonic-boom', 'thread-stream'),
  GC: (m: string) => m === '(gc)',
};

function log(msg: string): void {
  process.stderr.write(`profile-upstream: ${msg}\n`);
}

async function main(): Promise<void> {
  const dir = process.env.BENCH_PROFILE_DIR ? path.resolve(process.env.BENCH_PROFILE_DIR) : await tempDir('prof-up');
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const everything = spawnNode([EVERYTHING, 'streamableHttp'], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, PORT: String(port) } });
  await waitUntil(() => canConnect(port), 20_000, 'server-everything to listen', 50);
  const directUrl = `http://127.0.0.1:${port}/mcp`;
  const preload = path.join(BENCH_DIST, 'lib', 'cpu-prof-preload.js');
  const api = await startApi(['--upstream', directUrl], { NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${preload}`].filter(Boolean).join(' '), BENCH_CPU_PROFILE_DIR: dir });
  await load(api.mcpUrl, 'v1', 8, 1, undefined, ECHO);
  const windows: [number, number][] = [];
  let calls = 0;
  const direct: number[] = [];
  const proxied: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    direct.push((await load(directUrl, 'v1', 8, SECONDS, undefined, ECHO)).rps);
    const t0 = nowMs();
    const res = await load(api.mcpUrl, 'v1', 8, SECONDS, undefined, ECHO);
    windows.push([t0, nowMs()]);
    calls += res.totalCalls;
    proxied.push(res.rps);
    log(`round ${r + 1}/${ROUNDS}: direct ${direct.at(-1)!.toFixed(0)}, upstream ${res.rps.toFixed(0)} rps`);
  }
  const { childPid } = api;
  await api.close();
  await stop(everything);
  const child = await summarize(await profileOf(dir, childPid), windows, GROUPS);
  process.stdout.write(`## --upstream child under 8 v1 clients, ${ROUNDS} x ${SECONDS} s (direct ${direct.map((v) => v.toFixed(0)).join(', ')} rps; proxied ${proxied.map((v) => v.toFixed(0)).join(', ')} rps); profiles in ${dir}\n`);
  process.stdout.write(section('child', child, calls));
}

try {
  await main();
} catch (err) {
  process.stderr.write(`profile-upstream: failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
process.exit(process.exitCode ?? 0);
