/**
 * The product with many children: writes a config file of N built-in servers and starts the real
 * `mcp-monitor start --config <file>` (contract §8), for bench/fleet.ts and bench/fleet-churn.ts.
 *
 * The children are started a few at a time, not all at once. Each child needs about 1 s of CPU
 * to become ready, and the supervisor kills one that is not ready within 20 s: 50 started at
 * once on 2 shared cores all missed that, were restarted together, missed it again, and 46 of 50
 * ended `fatal` (docs/bench.md). So the file says `autostart: false` and the bench starts each
 * server through the API (`POST /api/mcp/servers/:id/start`), keeping `startConcurrency` of them
 * starting at a time, as an operator would today.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nowMs, waitUntil } from './clock.js';
import { getJson, request } from './http.js';
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

/** Starts one server through the API and resolves when it is running. */
async function startOne(api: ApiProcess, serverId: string): Promise<void> {
  // The control routes need a JSON content type (contract §5: no form post from a web page).
  const r = await request(`${api.url}/api/mcp/servers/${serverId}/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (r.status !== 202) throw new Error(`bench: POST start ${serverId}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  let last = '';
  await waitUntil(async () => {
    const s = (await listServers(api)).find((x) => x.serverId === serverId);
    last = `${s?.status}, ${s?.restarts} restarts`;
    return s?.status === 'running' && s.mcpUrl !== null;
  }, 60_000, `${serverId} to run`, 50).catch((err: Error) => {
    throw new Error(`${err.message} (last seen: ${last})`, { cause: err });
  });
}

/**
 * Writes a config file of `n` built-in servers (`f01`, `f02`, …, each `mcpPort: 0` so that the
 * kernel picks the ports, `autostart: false`), starts `mcp-monitor start --config <file>`, then
 * starts the servers, `startConcurrency` at a time; resolves when all are running.
 */
export async function startFleet(n: number, heartbeatMs: number, startConcurrency: number): Promise<Fleet> {
  const dir = await tempDir('fleet');
  const width = Math.max(2, String(n).length);
  const servers = Array.from({ length: n }, (_, i) => ({ id: `f${String(i + 1).padStart(width, '0')}`, mcpPort: 0, heartbeatMs, autostart: false }));
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
    const queue = servers.map((s) => s.id);
    await Promise.all(
      Array.from({ length: startConcurrency }, async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) await startOne(api, id);
      }),
    );
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
