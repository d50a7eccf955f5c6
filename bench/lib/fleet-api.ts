/**
 * The product with many children: writes a config file of N built-in servers and starts the real
 * `mcp-monitor start --config <file>` (contract §8), for bench/fleet.ts and bench/fleet-churn.ts.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nowMs } from './clock.js';
import { getJson } from './http.js';
import { removeDir, startApi, tempDir, type Api } from './procs.js';
import { round } from './stats.js';

/** A server of the fleet as `GET /api/mcp/servers` lists it once running. */
export interface FleetServer {
  serverId: string;
  pid: number;
  mcpUrl: string;
}

export interface Fleet {
  api: Api;
  servers: FleetServer[];
  /** API spawned -> every child running. */
  startMs: number;
  /** Stops the API (and so its children) and removes the state and config directories. */
  close: () => Promise<void>;
}

interface ServerSummary {
  serverId: string;
  status: string;
  pid: number | null;
  mcpUrl: string | null;
  activeConnections: number;
  totalConnections: number;
}

/** `GET /api/mcp/servers`. */
export function listServers(api: Api): Promise<ServerSummary[]> {
  return getJson<{ servers: ServerSummary[] }>(`${api.url}/api/mcp/servers`).then((r) => r.servers);
}

/**
 * Writes a config file of `n` built-in servers (`f01`, `f02`, …, each `mcpPort: 0` so that the
 * kernel picks the ports) and starts `mcp-monitor start --config <file>`; resolves when all are running.
 */
export async function startFleet(n: number, heartbeatMs: number): Promise<Fleet> {
  const dir = await tempDir('fleet');
  const width = String(n).length < 2 ? 2 : String(n).length;
  const servers = Array.from({ length: n }, (_, i) => ({ id: `f${String(i + 1).padStart(width, '0')}`, mcpPort: 0, heartbeatMs }));
  const config = path.join(dir, 'fleet.json');
  await writeFile(config, `${JSON.stringify({ servers }, null, 2)}\n`);
  const t0 = nowMs();
  // Each child is a Node process loading the SDK; on 2 shared cores 50 of them take a while.
  const api = await startApi([], {}, { config, readyTimeoutMs: 30_000 + n * 2000 });
  const startMs = nowMs() - t0;
  const close = async () => {
    await api.close();
    await removeDir(dir);
  };
  const list = await listServers(api);
  if (list.length !== n) {
    await close();
    throw new Error(`bench: fleet: the API lists ${list.length} servers, the config has ${n}`);
  }
  return { api, startMs: round(startMs, 0), servers: list.map((s) => ({ serverId: s.serverId, pid: s.pid!, mcpUrl: s.mcpUrl! })), close };
}

