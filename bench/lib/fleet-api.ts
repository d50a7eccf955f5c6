/**
 * The product with many children: writes a config file of N built-in servers and starts the real
 * `mcp-monitor start --config <file>`, for bench/fleet.ts and bench/fleet-churn.ts.
 *
 * The children start as a user's would: all `autostart`, the API starting them as many at a
 * time as there are cores (`startFleet` in api/fleet.ts). Started all at once, 50 children on 2
 * shared cores each outlived the 20 s ready timeout, were restarted together and 46 of 50 ended
 * `fatal` (docs/bench.md): the bench found that, and the API now staggers them itself.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nowMs, waitUntil } from './clock.js';
import { getJson } from './http.js';
import { removeDir, spawnApi, tempDir, type ApiProcess } from './procs.js';
import { round } from './stats.js';

/** A server of the fleet as `GET /api/mcp/servers` lists it once running. */
export interface FleetServer {
  serverId: string;
  pid: number;
  mcpUrl: string;
}

export interface Fleet {
  api: ApiProcess;
  servers: FleetServer[];
  /** API listening -> every child running. */
  startMs: number;
  /** Stops the API (and so its children) and removes the state and config directories. */
  close: () => Promise<void>;
}

interface ServerSummary {
  serverId: string;
  status: string;
  pid: number | null;
  mcpUrl: string | null;
  restarts: number;
  activeConnections: number;
  totalConnections: number;
}

/** `GET /api/mcp/servers`. */
export function listServers(api: ApiProcess): Promise<ServerSummary[]> {
  return getJson<{ servers: ServerSummary[] }>(`${api.url}/api/mcp/servers`).then((r) => r.servers);
}

/**
 * Writes a config file of `n` built-in servers (`f01`, `f02`, …, each `mcpPort: 0` so that the
 * kernel picks the ports), starts `mcp-monitor start --config <file>` and resolves when all are
 * running.
 */
export async function startFleet(n: number, heartbeatMs: number): Promise<Fleet> {
  const dir = await tempDir('fleet');
  const width = Math.max(2, String(n).length);
  const servers = Array.from({ length: n }, (_, i) => ({ id: `f${String(i + 1).padStart(width, '0')}`, mcpPort: 0, heartbeatMs }));
  const config = path.join(dir, 'fleet.json');
  await writeFile(config, `${JSON.stringify({ servers }, null, 2)}\n`);
  const api = await spawnApi(['--config', config]);
  // A grace long enough for the API to stop all of its children itself.
  const close = async () => {
    await api.close(30_000);
    await removeDir(dir);
  };
  try {
    const t0 = nowMs();
    let last = '';
    await waitUntil(async () => {
      const list = await listServers(api);
      const up = list.filter((x) => x.status === 'running' && x.mcpUrl !== null).length;
      const failed = list.filter((x) => x.status === 'fatal' || x.restarts > 0).map((x) => `${x.serverId} ${x.status} (${x.restarts} restarts)`);
      last = `${up} of ${n} running${failed.length ? `; ${failed.slice(0, 5).join(', ')}` : ''}`;
      return up === n;
    }, 180_000, 'every child running', 100).catch((err: Error) => {
      throw new Error(`${err.message} (last seen: ${last})`, { cause: err });
    });
    const startMs = nowMs() - t0;
    const list = await listServers(api);
    const up = list.filter((s) => s.status === 'running' && s.pid !== null && s.mcpUrl !== null);
    if (list.length !== n || up.length !== n) throw new Error(`bench: fleet: ${up.length} of ${list.length} servers running, the config has ${n}`);
    return { api, startMs: round(startMs, 0), servers: up.map((s) => ({ serverId: s.serverId, pid: s.pid!, mcpUrl: s.mcpUrl! })), close };
  } catch (err) {
    await close();
    throw err;
  }
}
