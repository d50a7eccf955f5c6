/**
 * (7) Backends: what fronting a third-party MCP server costs. The same server, the npm package
 * `@modelcontextprotocol/server-everything`, is reached four ways in one run:
 * - `direct`: its own Streamable HTTP mode on a free port, no monitor;
 * - `nginx`: through nginx (bench/lib/nginx.ts), the anchor: a keep-alive reverse proxy with
 *   buffering off, as an operator would put in front of it (left out, and said, when no nginx is
 *   installed: `apt-get install nginx-light`);
 * - `tcpRelay`: through bench/bare-tcp-relay.ts, bytes piped with no HTTP at all (what moving
 *   them through a Node process costs);
 * - `bareNode`: through bench/bare-http-proxy.ts, the least a proxy on `node:http` does (the
 *   floor of any design on it, `--upstream`'s included);
 * - `upstream`: through the real product (`mcp-monitor start --upstream <that URL>`), the
 *   child proxying every request and recording what passes;
 * - `command`: the product running it in stdio mode (`--command "node … stdio"`), one process
 *   per session.
 * For each: `tools/call` `echo` per second with `clients` v1 SDK clients at once, and the p50 /
 * p99 of one client calling back to back (the latency a request adds, with no queueing). The
 * direct, nginx, TCP relay, bare node and upstream runs take turns in each round, who goes first rotating (each ratio
 * is the median of the rounds' ratios, as in (4)). The CPU per call of a proxy is its process's
 * user + system time (/proc) over its runs divided by the calls made in them, warm-up included:
 * nginx's one process, the relay's, the bare proxy's and the child's (the API beside it, which only watches,
 * apart). For
 * `command`, `firstResultP50Ms`: from `connect()` (the `initialize` that spawns the process) to
 * the session's first `tools/call` result.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { nowMs, waitUntil } from './lib/clock.js';
import { connect, load, type ToolCall } from './lib/load.js';
import { findNginx, startNginx, type Nginx } from './lib/nginx.js';
import { canConnect, freePort } from './lib/ports.js';
import { BENCH_DIST, cpuSeconds, ROOT, spawnNode, startApi, stop, type Api } from './lib/procs.js';
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
  /** Through nginx; null when none is installed (`nginxMissing` says so). */
  nginx: BackendNumbers | null;
  /** Through the bare `node:http` proxy (bench/bare-http-proxy.ts). */
  bareNode: BackendNumbers;
  /** Through the TCP relay (bench/bare-tcp-relay.ts). */
  tcpRelay: BackendNumbers;
  upstream: BackendNumbers;
  command: BackendNumbers & { firstResultP50Ms: number; firstResultP99Ms: number };
  /** upstream p50 - direct p50, ms (target: below nginx's + 0.2 ms). */
  upstreamAddedP50Ms: number;
  /** nginx p50 - direct p50, ms. */
  nginxAddedP50Ms: number | null;
  /** Median of the rounds' upstream / direct rps. */
  upstreamRpsRatio: number;
  /** Median of the rounds' nginx / direct rps. */
  nginxRpsRatio: number | null;
  /** Median of the rounds' upstream / nginx rps (target >= 0.95). */
  upstreamOverNginxRps: number | null;
  /** CPU of the proxying process per call, µs: the child of `--upstream`, and its API apart. */
  upstreamCpuUsPerCall: number;
  upstreamApiCpuUsPerCall: number;
  /** nginx's process per call, µs. */
  nginxCpuUsPerCall: number | null;
  /** The bare `node:http` proxy's, µs. */
  bareNodeCpuUsPerCall: number;
  /** The TCP relay's, µs. */
  tcpRelayCpuUsPerCall: number;
  /** Median of the rounds' bare node / nginx rps: what any proxy on `node:http` can reach. */
  bareNodeOverNginxRps: number | null;
  /** Why there is no nginx figure, or null. */
  nginxMissing: string | null;
  runs: { direct: number[]; nginx: number[]; tcpRelay: number[]; bareNode: number[]; upstream: number[]; command: number[] };
  clients: number;
  seconds: number;
  server: string;
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

type Way = 'direct' | 'nginx' | 'tcpRelay' | 'bareNode' | 'upstream' | 'command';

/** CPU seconds of `pids` together. */
function cpuOf(pids: number[]): number {
  return pids.reduce((t, pid) => t + cpuSeconds(pid), 0);
}

/** Runs (7): `rounds` rounds of each way, `clients` clients for `seconds` per run, `calls` sequential calls per round. */
export async function measureBackends(rounds: number, clients: number, seconds: number, calls: number, log: (msg: string) => void = () => undefined): Promise<Backends> {
  const port = await freePort();
  const everything = spawnNode([EVERYTHING, 'streamableHttp'], { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, PORT: String(port) } });
  let upstream: Api | undefined;
  let command: Api | undefined;
  let nginx: Nginx | undefined;
  const anchors: ChildProcess[] = [];
  const nginxBinary = findNginx();
  const nginxMissing = nginxBinary ? null : 'nginx is not installed (apt-get install nginx-light): no nginx figures';
  if (nginxMissing) log(nginxMissing);
  try {
    await waitUntil(() => canConnect(port), 20_000, 'server-everything to listen', 50);
    const directUrl = `http://127.0.0.1:${port}/mcp`;
    upstream = await startApi(['--upstream', directUrl]);
    command = await startApi(['--command', `${process.execPath} ${EVERYTHING} stdio`]);
    if (nginxBinary) nginx = await startNginx(nginxBinary, port, '/mcp');
    const anchor = async (script: string): Promise<{ child: ChildProcess; url: string }> => {
      const p = await freePort();
      const child = spawnNode([path.join(BENCH_DIST, script), String(p), String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
      anchors.push(child);
      await waitUntil(() => canConnect(p), 10_000, `${script} to listen`, 20);
      return { child, url: `http://127.0.0.1:${p}/mcp` };
    };
    const bare = await anchor('bare-http-proxy.js');
    const tcp = await anchor('bare-tcp-relay.js');
    const urls: Record<Way, string | undefined> = { direct: directUrl, nginx: nginx?.url, bareNode: bare.url, tcpRelay: tcp.url, upstream: upstream.mcpUrl, command: command.mcpUrl };
    const proxies = ['nginx', 'tcpRelay', 'bareNode', 'upstream'] as const;
    const pids = { nginx: nginx ? [nginx.pid] : [], bareNode: [bare.child.pid!], tcpRelay: [tcp.child.pid!], upstream: [upstream.childPid], upstreamApi: [upstream.apiPid] };
    // Untimed: JIT of the clients, the proxies and the servers.
    for (const way of ['direct', 'nginx', 'tcpRelay', 'bareNode', 'upstream', 'command'] as const) if (urls[way]) await load(urls[way], 'v1', clients, 1, undefined, ECHO);
    const runs: Record<Way, number[]> = { direct: [], nginx: [], tcpRelay: [], bareNode: [], upstream: [], command: [] };
    const ms: Record<Way, number[]> = { direct: [], nginx: [], tcpRelay: [], bareNode: [], upstream: [], command: [] };
    const cpu = { nginx: 0, tcpRelay: 0, bareNode: 0, upstream: 0, upstreamApi: 0 };
    const callsMade = { nginx: 0, tcpRelay: 0, bareNode: 0, upstream: 0 };
    const turns = (['direct', 'nginx', 'tcpRelay', 'bareNode', 'upstream'] as const).filter((w) => urls[w]);
    for (let r = 0; r < rounds; r++) {
      // Rotate who goes first, so that a drift in the machine's load hits each alike.
      const order = [...turns.slice(r % turns.length), ...turns.slice(0, r % turns.length), 'command' as const];
      for (const way of order) {
        const proxy = (proxies as readonly string[]).includes(way) ? (way as (typeof proxies)[number]) : undefined;
        const before = proxy && { own: cpuOf(pids[proxy]), api: cpuOf(pids.upstreamApi) };
        const result = await load(urls[way]!, 'v1', clients, seconds, undefined, ECHO);
        if (proxy && before) {
          cpu[proxy] += cpuOf(pids[proxy]) - before.own;
          if (proxy === 'upstream') cpu.upstreamApi += cpuOf(pids.upstreamApi) - before.api;
          callsMade[proxy] += result.totalCalls;
        }
        runs[way].push(result.rps);
        ms[way].push(...(await sequential(urls[way]!, calls)));
      }
      log(`backends: round ${r + 1}/${rounds}: ${order.map((w) => `${w} ${round(runs[w].at(-1)!, 0)}`).join(', ')} rps`);
    }
    const first = dist(await firstResults(command.mcpUrl, rounds * 5));
    const direct = numbers(runs.direct, ms.direct);
    const up = numbers(runs.upstream, ms.upstream);
    const ng = nginx ? numbers(runs.nginx, ms.nginx) : null;
    const bn = numbers(runs.bareNode, ms.bareNode);
    const tr = numbers(runs.tcpRelay, ms.tcpRelay);
    const ratio = (a: number[], b: number[]) => round(median(a.map((v, i) => v / b[i]!)), 3);
    const perCall = (seconds: number, n: number) => round((seconds * 1e6) / n, 1);
    return {
      direct,
      nginx: ng,
      bareNode: bn,
      tcpRelay: tr,
      upstream: up,
      command: { ...numbers(runs.command, ms.command), firstResultP50Ms: first.p50, firstResultP99Ms: first.p99 },
      upstreamAddedP50Ms: round(up.p50Ms - direct.p50Ms),
      nginxAddedP50Ms: ng ? round(ng.p50Ms - direct.p50Ms) : null,
      upstreamRpsRatio: ratio(runs.upstream, runs.direct),
      nginxRpsRatio: ng ? ratio(runs.nginx, runs.direct) : null,
      upstreamOverNginxRps: ng ? ratio(runs.upstream, runs.nginx) : null,
      upstreamCpuUsPerCall: perCall(cpu.upstream, callsMade.upstream),
      upstreamApiCpuUsPerCall: perCall(cpu.upstreamApi, callsMade.upstream),
      nginxCpuUsPerCall: ng ? perCall(cpu.nginx, callsMade.nginx) : null,
      bareNodeCpuUsPerCall: perCall(cpu.bareNode, callsMade.bareNode),
      tcpRelayCpuUsPerCall: perCall(cpu.tcpRelay, callsMade.tcpRelay),
      bareNodeOverNginxRps: ng ? ratio(runs.bareNode, runs.nginx) : null,
      nginxMissing,
      runs: { direct: runs.direct.map((v) => round(v, 1)), nginx: runs.nginx.map((v) => round(v, 1)), bareNode: runs.bareNode.map((v) => round(v, 1)), tcpRelay: runs.tcpRelay.map((v) => round(v, 1)), upstream: runs.upstream.map((v) => round(v, 1)), command: runs.command.map((v) => round(v, 1)) },
      clients,
      seconds,
      server: '@modelcontextprotocol/server-everything 2026.8.31',
    };
  } finally {
    await nginx?.close();
    for (const a of anchors) await stop(a);
    await upstream?.close();
    await command?.close();
    await stop(everything);
  }
}
