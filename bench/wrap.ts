/**
 * (9) wrap: what the stdio tap costs a client that launched its server itself. One v1 SDK
 * client (its own `StdioClientTransport`, as a desktop client does) calls `tools/call` `echo`
 * back to back on `@modelcontextprotocol/server-everything` in stdio mode, launched two ways in
 * alternating rounds of the same run:
 * - `direct`: `node …/server-everything/dist/index.js stdio`;
 * - `wrapped`: `node bin/mcp-monitor.js wrap -- node …/server-everything/dist/index.js stdio`,
 *   publishing to a temp state directory.
 * Each round: a warm-up, then calls for `seconds`; rps = calls / elapsed, and the p50 / p99 of
 * the calls. `rpsRatio` is the median of the rounds' wrapped / direct ratios, `addedP50Ms` the
 * wrapped p50 minus the direct p50 (medians over the rounds). `wrapperCpuUsPerCall`: the CPU
 * (user + system, /proc/<pid>/stat) the wrapper process used in its rounds' measured windows,
 * divided by the calls they completed.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { nowMs } from './lib/clock.js';
import { BIN, ROOT, cpuSeconds, removeDir, tempDir } from './lib/procs.js';
import { dist, median, round } from './lib/stats.js';

const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

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
  runs: { direct: number[]; wrapped: number[] };
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
  const wrapped: Round[] = [];
  try {
    for (let r = 0; r < o.rounds; r++) {
      o.log(`wrap: round ${r + 1} of ${o.rounds}`);
      // Alternate which goes first, so that neither always meets a warmer machine.
      const d = () => round1(process.execPath, [EVERYTHING, 'stdio'], {}, o.seconds).then((x) => void direct.push(x));
      const w = () => round1(process.execPath, [BIN, 'wrap', '--state-dir', stateDir, '--', process.execPath, EVERYTHING, 'stdio'], {}, o.seconds).then((x) => void wrapped.push(x));
      if (r % 2 === 0) {
        await d();
        await w();
      } else {
        await w();
        await d();
      }
    }
  } finally {
    await removeDir(stateDir);
  }
  const summary = (rs: Round[]): WrapNumbers => ({ rps: round(median(rs.map((x) => x.rps)), 0), p50Ms: round(median(rs.map((x) => x.p50))), p99Ms: round(median(rs.map((x) => x.p99))) });
  const calls = wrapped.reduce((a, x) => a + x.calls, 0);
  const cpu = wrapped.reduce((a, x) => a + x.cpuS, 0);
  const dn = summary(direct);
  const wn = summary(wrapped);
  return {
    direct: dn,
    wrapped: wn,
    addedP50Ms: round(wn.p50Ms - dn.p50Ms),
    rpsRatio: round(median(wrapped.map((x, i) => x.rps / direct[i]!.rps))),
    wrapperCpuUsPerCall: round((cpu / calls) * 1e6, 1),
    runs: { direct: direct.map((x) => round(x.rps, 0)), wrapped: wrapped.map((x) => round(x.rps, 0)) },
    rounds: o.rounds,
    seconds: o.seconds,
    server: '@modelcontextprotocol/server-everything (stdio)',
  };
}
