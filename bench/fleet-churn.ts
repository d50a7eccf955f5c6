/**
 * (8) Fleet churn: a fleet of `children` built-in servers under one API, each holding
 * `sessionsEach` open sessions (bare `initialize` POSTs). Then for `seconds`, one loop per
 * server, all at once, ends a random one of its sessions (DELETE) and opens another in its
 * place, so every server keeps changing while holding about `sessionsEach`. After the last
 * change: how long until the API shows exactly the final state of every server, polling
 * `GET /api/mcp/servers` (each server's active count, and its total count grown by exactly the
 * opens sent to it, which proves every open was seen) and then confirming on each server's
 * connections route that the listed ids are exactly the open ones.
 */
import { nowMs, sleep, waitUntil } from './lib/clock.js';
import { getJson, rawDelete, rawInitialize } from './lib/http.js';
import { cpuSeconds, rssMb } from './lib/procs.js';
import { round } from './lib/stats.js';
import { listServers, startFleet, type Fleet } from './lib/fleet-api.js';

export interface FleetChurn {
  children: number;
  sessionsEach: number;
  /** The API showed exactly the final state of every server within `boundMs` of the last change. */
  finalStateSeen: boolean;
  /** Last change (answer of the last open) -> the API's server list showed the final counts. */
  finalLagMs: number;
  boundMs: number;
  seconds: number;
  opens: number;
  closes: number;
  changesPerSec: number;
  /** Opening the sessions before the churn: time, and the API showing all of them. */
  fillMs: number;
  /** During the churn, in % of one core: the API, and all children together. */
  apiCpuPct: number;
  childrenCpuPct: number;
  /** VmRSS of a child holding `sessionsEach` sessions (mean over the children), and of the API. */
  rssPerChildMiB: number;
  apiRssMiB: number;
}

/** Sessions open on each server, by id. */
type Open = Map<string, string[]>;

/** The API lists every server with exactly `open`'s count and a total of `base` + opens. */
async function countsMatch(fleet: Fleet, open: Open, totals: Map<string, number>): Promise<boolean> {
  const list = await listServers(fleet.api);
  return fleet.servers.every((s) => {
    const row = list.find((r) => r.serverId === s.serverId);
    return row?.activeConnections === open.get(s.serverId)!.length && row.totalConnections === totals.get(s.serverId);
  });
}

/** Each server's connections route lists exactly the ids in `open`. */
async function idsMatch(fleet: Fleet, open: Open): Promise<boolean> {
  for (const s of fleet.servers) {
    const r = await getJson<{ connections: { sessionId: string }[] }>(`${fleet.api.url}/api/mcp/servers/${s.serverId}/connections`);
    const want = new Set(open.get(s.serverId));
    if (r.connections.length !== want.size || !r.connections.every((c) => want.has(c.sessionId))) return false;
  }
  return true;
}

export async function measureFleetChurn(children: number, sessionsEach: number, seconds: number, heartbeatMs: number, boundMs = 10_000): Promise<FleetChurn> {
  const fleet = await startFleet(children, heartbeatMs);
  try {
    const open: Open = new Map(fleet.servers.map((s) => [s.serverId, []]));
    // Every total the API must end on: what it shows now plus every open we send.
    const totals = new Map((await listServers(fleet.api)).map((r) => [r.serverId, r.totalConnections]));
    const fill0 = nowMs();
    // 4 opens in flight per server, all servers at once.
    await Promise.all(
      fleet.servers.flatMap((s) =>
        Array.from({ length: 4 }, async () => {
          const mine = open.get(s.serverId)!;
          while (mine.length < sessionsEach) {
            const slot = mine.push('') - 1;
            mine[slot] = await rawInitialize(s.mcpUrl, 'bench-fleet-churn');
            totals.set(s.serverId, totals.get(s.serverId)! + 1);
          }
        }),
      ),
    );
    await waitUntil(() => countsMatch(fleet, open, totals), 60_000, `${sessionsEach} sessions on each of ${children} servers in the API`, 10);
    const fillMs = nowMs() - fill0;

    const pids = fleet.servers.map((s) => s.pid);
    const api0 = cpuSeconds(fleet.api.apiPid);
    const ch0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
    let opens = 0;
    let closes = 0;
    let last = 0;
    const start = nowMs();
    const end = start + seconds * 1000;
    await Promise.all(
      fleet.servers.map(async (s) => {
        const mine = open.get(s.serverId)!;
        while (nowMs() < end) {
          const i = Math.floor(Math.random() * mine.length);
          await rawDelete(s.mcpUrl, mine[i]!);
          closes++;
          mine[i] = await rawInitialize(s.mcpUrl, 'bench-fleet-churn');
          totals.set(s.serverId, totals.get(s.serverId)! + 1);
          opens++;
          last = nowMs();
        }
      }),
    );
    const churnEnd = nowMs();
    const apiCpuPct = ((cpuSeconds(fleet.api.apiPid) - api0) / ((churnEnd - start) / 1000)) * 100;
    const childrenCpuPct = ((pids.reduce((a, p) => a + cpuSeconds(p), 0) - ch0) / ((churnEnd - start) / 1000)) * 100;

    // The time is taken when the server list showed the final counts; the ids are then
    // confirmed (a mismatch there means the counts matched by chance: keep polling).
    let seenAt: number | undefined;
    while (nowMs() - last < boundMs) {
      const counted = await countsMatch(fleet, open, totals);
      const t = nowMs();
      if (counted && (await idsMatch(fleet, open))) {
        seenAt = t;
        break;
      }
      await sleep(5);
    }
    return {
      children,
      sessionsEach,
      finalStateSeen: seenAt !== undefined,
      finalLagMs: seenAt === undefined ? Number.NaN : round(Math.max(0, seenAt - last), 1),
      boundMs,
      seconds,
      opens,
      closes,
      changesPerSec: round((opens + closes) / ((churnEnd - start) / 1000), 1),
      fillMs: round(fillMs, 0),
      apiCpuPct: round(apiCpuPct, 1),
      childrenCpuPct: round(childrenCpuPct, 1),
      rssPerChildMiB: round(pids.reduce((a, p) => a + rssMb(p), 0) / pids.length, 1),
      apiRssMiB: rssMb(fleet.api.apiPid),
    };
  } finally {
    await fleet.close();
  }
}
