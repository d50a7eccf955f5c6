/**
 * (4) Overhead on the MCP server: tools/call (`echo`) per second through the child, with
 * monitoring on (the real `mcp-monitor start`: API + child writing snapshots and the journal)
 * versus off (the same MCP host with no writer), under the same load: `clients` SDK clients,
 * each calling in a loop for `seconds`. Runs alternate off/on; the medians are reported.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { nowMs, waitUntil } from './lib/clock.js';
import { median, round } from './lib/stats.js';
import { BENCH_DIST, cpuSeconds, spawnNode, startApi, stop } from './lib/procs.js';

async function load(url: string, clients: number, seconds: number): Promise<number> {
  const cs = await Promise.all(
    Array.from({ length: clients }, async () => {
      const transport = new StreamableHTTPClientTransport(new URL(url));
      const client = new Client({ name: 'bench-throughput', version: '1.0.0' });
      await client.connect(transport);
      return { client, transport };
    }),
  );
  const call = (c: Client) => c.callTool({ name: 'echo', arguments: { text: 'hello' } });
  // Warm up (JIT, sockets), then count.
  const warmEnd = nowMs() + 300;
  await Promise.all(cs.map(async ({ client }) => { while (nowMs() < warmEnd) await call(client); }));
  let calls = 0;
  const start = nowMs();
  const end = start + seconds * 1000;
  await Promise.all(
    cs.map(async ({ client }) => {
      while (nowMs() < end) {
        await call(client);
        calls += 1;
      }
    }),
  );
  const elapsed = (nowMs() - start) / 1000;
  await Promise.all(cs.map(async ({ client, transport }) => {
    await transport.terminateSession();
    await client.close();
  }));
  return calls / elapsed;
}

export interface Throughput {
  onRps: number;
  offRps: number;
  /** Median over the rounds of on/off of one back-to-back pair. */
  ratio: number;
  runs: { on: number[]; off: number[] };
  /** CPU of the processes serving, in % of one core, during the timed runs (client included in neither). */
  cpuPct: { onChild: number; onApi: number; off: number };
  clients: number;
  seconds: number;
}

export async function measureThroughput(rounds: number, clients: number, seconds: number): Promise<Throughput> {
  const api = await startApi();
  const off = spawnNode([path.join(BENCH_DIST, 'mcp-only-server.js')], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, MCP_MONITOR_LOG_LEVEL: 'info' },
  });
  let offUrl: string | undefined;
  off.on('message', (m: { url?: string }) => (offUrl = m.url));
  try {
    await waitUntil(() => offUrl, 10_000, 'the monitoring-off server');
    // An untimed run first: the bench's own client code is cold on the first load.
    await load(offUrl!, clients, 1);
    const on: number[] = [];
    const offs: number[] = [];
    // CPU seconds per run: where the "on" side spends more than the bare server.
    const cpu = { onChild: 0, onApi: 0, off: 0, onS: 0, offS: 0 };
    const runOn = async () => {
      const c0 = cpuSeconds(api.childPid);
      const a0 = cpuSeconds(api.apiPid);
      const t0 = nowMs();
      on.push(await load(api.mcpUrl, clients, seconds));
      cpu.onS += (nowMs() - t0) / 1000;
      cpu.onChild += cpuSeconds(api.childPid) - c0;
      cpu.onApi += cpuSeconds(api.apiPid) - a0;
    };
    const runOff = async () => {
      const c0 = cpuSeconds(off.pid!);
      const t0 = nowMs();
      offs.push(await load(offUrl!, clients, seconds));
      cpu.offS += (nowMs() - t0) / 1000;
      cpu.off += cpuSeconds(off.pid!) - c0;
    };
    for (let r = 0; r < rounds; r++) {
      // Alternate which goes first, so that a drift in the machine's load hits both alike.
      if (r % 2 === 0) {
        await runOff();
        await runOn();
      } else {
        await runOn();
        await runOff();
      }
    }
    // The ratio is the median of the ratios of back-to-back pairs: the load other programs put
    // on the machine drifts by more than the overhead measured, and a pair shares most of it.
    const ratio = median(on.map((v, i) => v / offs[i]!));
    return { onRps: round(median(on), 1), offRps: round(median(offs), 1), ratio: round(ratio, 3), runs: { on: on.map((v) => round(v, 1)), off: offs.map((v) => round(v, 1)) },
      cpuPct: { onChild: round((cpu.onChild / cpu.onS) * 100, 1), onApi: round((cpu.onApi / cpu.onS) * 100, 1), off: round((cpu.off / cpu.offS) * 100, 1) },
      clients, seconds };
  } finally {
    await stop(off);
    await api.close();
  }
}
