/**
 * (9) wrap: what the stdio tap costs a client that launched its server itself. One v1 SDK
 * client (its own `StdioClientTransport`, as a desktop client does) calls `tools/call` `echo`
 * back to back on `@modelcontextprotocol/server-everything` in stdio mode, launched three ways in
 * alternating rounds of the same run (the order rotates from round to round):
 * - `direct`: `node …/server-everything/dist/index.js stdio`;
 * - `relay`: the anchor, bench/bare-relay.ts in front of it: a Node process that only pipes
 *   (what any process in the path costs here, before observing anything);
 * - `wrapped`: `node bin/mcp-monitor.js wrap -- node …/server-everything/dist/index.js stdio`,
 *   publishing to a temp state directory.
 * Each round: a warm-up, then calls for `seconds`; rps = calls / elapsed, and the p50 / p99 of
 * the calls. `rpsRatio` is the median of the rounds' wrapped / direct ratios, `addedP50Ms` the
 * wrapped p50 minus the direct p50 (medians over the rounds); `relayRpsRatio`,
 * `relayAddedP50Ms` the same for the relay, `wrapOverRelayRps` the median of wrapped / relay.
 * `wrapperCpuUsPerCall` (`relayCpuUsPerCall`): the CPU (user + system, /proc/<pid>/stat) the
 * wrapper (the relay) used in its rounds' measured windows, divided by the calls they completed.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { nowMs } from './lib/clock.js';
import { BIN, ROOT, cpuSeconds, removeDir, tempDir } from './lib/procs.js';
import { dist, median, round } from './lib/stats.js';

const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
// Built beside this file by bench/tsconfig.json.
const BARE_RELAY = fileURLToPath(new URL('./bare-relay.js', import.meta.url));

export interface WrapNumbers {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/** `results.json` `wrap`. */
export interface WrapResult {
  direct: WrapNumbers;
  wrapped: WrapNumbers;
  addedP50Ms: number;
  rpsRatio: number;
  wrapperCpuUsPerCall: number;
  relay: WrapNumbers;
  relayRpsRatio: number;
  relayAddedP50Ms: number;
  wrapOverRelayRps: number;
  relayCpuUsPerCall: number;
  runs: { direct: number[]; relay: number[]; wrapped: number[] };
  rounds: number;
  seconds: number;
  server: string;
}

interface Round {
  rps: number;
  p50: number;
  p99: number;
  calls: number;
  /** CPU seconds of the launched process over the measured window (the wrapper, when wrapped). */
  cpuS: number;
}

async function round1(command: string, args: string[], env: NodeJS.ProcessEnv, seconds: number): Promise<Round> {
  const transport = new StdioClientTransport({ command, args, env: { ...process.env, ...env } as Record<string, string>, stderr: 'ignore' });
  const client = new Client({ name: 'bench-wrap', version: '1.0.0' });
  await client.connect(transport);
  try {
    const call = () => client.callTool({ name: 'echo', arguments: { message: 'hello' } });
    for (let i = 0; i < 100; i++) await call();
    const pid = transport.pid!;
    const cpu0 = cpuSeconds(pid);
    const ms: number[] = [];
    const t0 = nowMs();
    const end = t0 + seconds * 1000;
    while (nowMs() < end) {
      const t = nowMs();
      await call();
      ms.push(nowMs() - t);
    }
    const elapsed = nowMs() - t0;
    const cpuS = cpuSeconds(pid) - cpu0;
    const d = dist(ms);
    return { rps: (ms.length / elapsed) * 1000, p50: d.p50, p99: d.p99, calls: ms.length, cpuS };
  } finally {
    await client.close();
  }
}

export async function measureWrap(o: { rounds: number; seconds: number; log: (m: string) => void }): Promise<WrapResult> {
  const stateDir = await tempDir('bench-wrap-');
  const direct: Round[] = [];
  const relay: Round[] = [];
  const wrapped: Round[] = [];
  const server = [EVERYTHING, 'stdio'];
  const kinds: [Round[], string[]][] = [
    [direct, server],
    [relay, [BARE_RELAY, process.execPath, ...server]],
    [wrapped, [BIN, 'wrap', '--state-dir', stateDir, '--', process.execPath, ...server]],
  ];
  try {
    for (let r = 0; r < o.rounds; r++) {
      o.log(`wrap: round ${r + 1} of ${o.rounds}`);
      // Rotate which goes first, so that none always meets a warmer (or busier) machine.
      for (let k = 0; k < kinds.length; k++) {
        const [into, args] = kinds[(r + k) % kinds.length]!;
        into.push(await round1(process.execPath, args, {}, o.seconds));
      }
    }
  } finally {
    await removeDir(stateDir);
  }
  const summary = (rs: Round[]): WrapNumbers => ({ rps: round(median(rs.map((x) => x.rps)), 0), p50Ms: round(median(rs.map((x) => x.p50))), p99Ms: round(median(rs.map((x) => x.p99))) });
  const cpuUs = (rs: Round[]) => round((rs.reduce((a, x) => a + x.cpuS, 0) / rs.reduce((a, x) => a + x.calls, 0)) * 1e6, 1);
  const ratio = (a: Round[], b: Round[]) => round(median(a.map((x, i) => x.rps / b[i]!.rps)));
  const dn = summary(direct);
  const rn = summary(relay);
  const wn = summary(wrapped);
  return {
    direct: dn,
    wrapped: wn,
    addedP50Ms: round(wn.p50Ms - dn.p50Ms),
    rpsRatio: ratio(wrapped, direct),
    wrapperCpuUsPerCall: cpuUs(wrapped),
    relay: rn,
    relayRpsRatio: ratio(relay, direct),
    relayAddedP50Ms: round(rn.p50Ms - dn.p50Ms),
    wrapOverRelayRps: ratio(wrapped, relay),
    relayCpuUsPerCall: cpuUs(relay),
    runs: { direct: direct.map((x) => round(x.rps, 0)), relay: relay.map((x) => round(x.rps, 0)), wrapped: wrapped.map((x) => round(x.rps, 0)) },
    rounds: o.rounds,
    seconds: o.seconds,
    server: '@modelcontextprotocol/server-everything (stdio)',
  };
}
