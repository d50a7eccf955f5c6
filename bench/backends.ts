/**
 * (7) Backends: what fronting a third-party MCP server costs. The same server, the npm package
 * `@modelcontextprotocol/server-everything`, is reached three ways in one run:
 * - `direct`: its own Streamable HTTP mode on a free port, no monitor;
 * - `upstream`: through the real product (`mcp-monitor start --upstream <that URL>`), the
 *   child proxying every request and recording what passes;
 * - `command`: the product running it in stdio mode (`--command "node … stdio"`), one process
 *   per session.
 * For each: `tools/call` `echo` per second with `clients` v1 SDK clients at once, and the p50 /
 * p99 of one client calling back to back (the latency a request adds, with no queueing). The
 * direct and upstream runs alternate in pairs (the ratio is the median of the pairs' ratios, as
 * in (4)). For `command`, `firstResultP50Ms`: from `connect()` (the `initialize` that spawns the
 * process) to the session's first `tools/call` result.
 */
import net from 'node:net';
import path from 'node:path';
import { nowMs, waitUntil } from './lib/clock.js';
import { connect, load, type ToolCall } from './lib/load.js';
import { ROOT, spawnNode, startApi, stop, type Api } from './lib/procs.js';
import { dist, median, round } from './lib/stats.js';

/** server-everything's entry point (`stdio` or `streamableHttp` as its argument). */
const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const ECHO: ToolCall = { name: 'echo', arguments: { message: 'hello' } };

/** One way of reaching the server. */
export interface BackendNumbers {
  /** Median over the rounds of calls per second with `clients` clients. */
  rps: number;
  /** One client calling back to back: ms per call. */
  p50Ms: number;
  p99Ms: number;
}

/** `results.json` `backends` (readers of earlier results rely on these field names). */
export interface Backends {
  direct: BackendNumbers;
  upstream: BackendNumbers;
  command: BackendNumbers & { firstResultP50Ms: number; firstResultP99Ms: number };
  /** upstream p50 - direct p50, ms. */
  upstreamAddedP50Ms: number;
  /** Median of the rounds' upstream / direct rps. */
  upstreamRpsRatio: number;
  runs: { direct: number[]; upstream: number[]; command: number[] };
  clients: number;
  seconds: number;
  server: string;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** ms per call of one client calling `n` times back to back, after a warm-up. */
async function sequential(url: string, n: number): Promise<number[]> {
  const c = await connect(url, 'v1', ECHO);
  try {
    for (let i = 0; i < 50; i++) await c.call();
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = nowMs();
      await c.call();
      ms.push(nowMs() - t0);
    }
    return ms;
  } finally {
    await c.end();
  }
}

/** ms from connect() to the first result of a new session, `n` sessions one after another. */
async function firstResults(url: string, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowMs();
    const c = await connect(url, 'v1', ECHO);
    await c.call();
    ms.push(nowMs() - t0);
    await c.end();
  }
  return ms;
}

function numbers(rps: number[], ms: number[]): BackendNumbers {
  const d = dist(ms);
  return { rps: round(median(rps), 1), p50Ms: d.p50, p99Ms: d.p99 };
}

/** Runs (7): `rounds` rounds of each way, `clients` clients for `seconds` per run, `calls` sequential calls per round. */
export async function measureBackends(rounds: number, clients: number, seconds: number, calls: number): Promise<Backends> {
  const port = await freePort();
  const everything = spawnNode([EVERYTHING, 'streamableHttp'], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, PORT: String(port) } });
  let upstream: Api | undefined;
  let command: Api | undefined;
  try {
    await waitUntil(() => canConnect(port), 20_000, 'server-everything to listen', 50);
    const directUrl = `http://127.0.0.1:${port}/mcp`;
    upstream = await startApi(['--upstream', directUrl]);
    command = await startApi(['--command', `${process.execPath} ${EVERYTHING} stdio`]);
    // Untimed: JIT of the clients, the proxy and the servers.
    await load(directUrl, 'v1', clients, 1, undefined, ECHO);
    await load(upstream.mcpUrl, 'v1', clients, 1, undefined, ECHO);
    await load(command.mcpUrl, 'v1', clients, 1, undefined, ECHO);
    const runs = { direct: [] as number[], upstream: [] as number[], command: [] as number[] };
    const ms = { direct: [] as number[], upstream: [] as number[], command: [] as number[] };
    const urls = { direct: directUrl, upstream: upstream.mcpUrl, command: command.mcpUrl };
    for (let r = 0; r < rounds; r++) {
      // Alternate which goes first, so that a drift in the machine's load hits both alike.
      const order = r % 2 === 0 ? (['direct', 'upstream', 'command'] as const) : (['upstream', 'direct', 'command'] as const);
      for (const way of order) {
        runs[way].push((await load(urls[way], 'v1', clients, seconds, undefined, ECHO)).rps);
        ms[way].push(...(await sequential(urls[way], calls)));
      }
    }
    const first = dist(await firstResults(command.mcpUrl, rounds * 5));
    const direct = numbers(runs.direct, ms.direct);
    const up = numbers(runs.upstream, ms.upstream);
    return {
      direct,
      upstream: up,
      command: { ...numbers(runs.command, ms.command), firstResultP50Ms: first.p50, firstResultP99Ms: first.p99 },
      upstreamAddedP50Ms: round(up.p50Ms - direct.p50Ms),
      upstreamRpsRatio: round(median(runs.upstream.map((v, i) => v / runs.direct[i]!)), 3),
      runs: { direct: runs.direct.map((v) => round(v, 1)), upstream: runs.upstream.map((v) => round(v, 1)), command: runs.command.map((v) => round(v, 1)) },
      clients,
      seconds,
      server: '@modelcontextprotocol/server-everything 2026.8.31',
    };
  } finally {
    await upstream?.close();
    await command?.close();
    await stop(everything);
  }
}
