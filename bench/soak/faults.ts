/**
 * The soak's faults, one at a time: the server's own process killed or frozen, an operator's
 * restart or end-session, a stdio process killed, the upstream killed, and faults of monitoring
 * alone (the API frozen, the snapshot's path blocked, the disk full, a burst of hostile requests). Each returns
 * the window in which it may explain a client's failure: faults of monitoring alone explain
 * none, since the MCP server must keep serving whatever happens to monitoring.
 */
import { mkdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { FuzzGenerator, send } from '../../test/helpers/fuzz-requests.js';
import { nowMs, sleep, waitUntil } from '../lib/clock.js';
import { getJson, request } from '../lib/http.js';
import { fillDisk, freeDisk } from './small-disk.js';

/** What a fault may explain. */
export interface FaultWindow {
  kind: string;
  serverId: string;
  startMs: number;
  endMs: number;
  /** The fault touched monitoring only: it explains no client failure. */
  monitoringOnly: boolean;
  /** A session the fault ended on purpose: its client's failures are explained whenever they come. */
  sessionId?: string;
  note?: string;
}

/** What the faults act on. */
export interface FaultContext {
  apiUrl: string;
  apiPid: number;
  stateDir: string;
  serverIds: string[];
  /** The server whose sessions have stdio processes (`--command`). */
  commandServer: string;
  /** The server behind which the upstream runs, and how to kill and restart the upstream. */
  proxyServer: string;
  killUpstream: () => Promise<void>;
  startUpstream: () => Promise<void>;
  /** The state directory is a small tmpfs of its own, which a fault may fill. */
  smallDisk: boolean;
  rand: () => number;
}

interface ServerRow {
  serverId: string;
  status: string;
  pid: number | null;
}

interface ConnectionRow {
  sessionId: string;
  era?: string;
  process?: { pid: number } | null;
}

const GRACE_MS = 3000;

/**
 * Operator requests go on a connection of their own: a kept-alive socket that the API closes
 * as idle while this busy process reuses it fails with "socket hang up" (the client's race,
 * not the API's), and a POST must not be re-sent.
 */
const FRESH = { connection: 'close' };

async function serverRow(ctx: FaultContext, id: string): Promise<ServerRow> {
  const { servers } = await getJson<{ servers: ServerRow[] }>(`${ctx.apiUrl}/api/mcp/servers`);
  return servers.find((s) => s.serverId === id)!;
}

/** Waits until `id` runs with a pid other than `oldPid`. */
async function runningAgain(ctx: FaultContext, id: string, oldPid: number | null): Promise<void> {
  await waitUntil(async () => {
    const s = await serverRow(ctx, id).catch(() => undefined);
    return s?.status === 'running' && s.pid !== oldPid;
  }, 60_000, `${id} running again`, 100);
}

async function connections(ctx: FaultContext, id: string): Promise<ConnectionRow[]> {
  return (await getJson<{ connections: ConnectionRow[] }>(`${ctx.apiUrl}/api/mcp/servers/${id}/connections`)).connections;
}

const pick = <T>(ctx: FaultContext, xs: readonly T[]): T => xs[Math.floor(ctx.rand() * xs.length)]!;

type Fault = (ctx: FaultContext) => Promise<FaultWindow | undefined>;

const FAULTS: Record<string, Fault> = {
  async 'kill-child'(ctx) {
    const id = pick(ctx, ctx.serverIds);
    const before = await serverRow(ctx, id);
    if (before.pid === null) return undefined;
    const startMs = nowMs();
    process.kill(before.pid, 'SIGKILL');
    await runningAgain(ctx, id, before.pid);
    return { kind: 'kill-child', serverId: id, startMs, endMs: nowMs() + GRACE_MS, monitoringOnly: false };
  },
  async restart(ctx) {
    const id = pick(ctx, ctx.serverIds);
    const before = await serverRow(ctx, id);
    const startMs = nowMs();
    const r = await request(`${ctx.apiUrl}/api/mcp/servers/${id}/restart`, { method: 'POST', headers: { ...FRESH, 'content-type': 'application/json' }, body: '{}' });
    if (r.status !== 202) throw new Error(`soak: restart ${id}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    await runningAgain(ctx, id, before.pid);
    return { kind: 'restart', serverId: id, startMs, endMs: nowMs() + GRACE_MS, monitoringOnly: false };
  },
  async 'freeze-child'(ctx) {
    const id = pick(ctx, ctx.serverIds);
    const { pid } = await serverRow(ctx, id);
    if (pid === null) return undefined;
    const startMs = nowMs();
    process.kill(pid, 'SIGSTOP');
    await sleep(3000);
    process.kill(pid, 'SIGCONT');
    return { kind: 'freeze-child', serverId: id, startMs, endMs: nowMs() + GRACE_MS, monitoringOnly: false };
  },
  async 'end-session'(ctx) {
    const id = pick(ctx, ctx.serverIds);
    const legacy = (await connections(ctx, id)).filter((c) => c.era !== 'modern');
    if (legacy.length === 0) return undefined;
    const { sessionId } = pick(ctx, legacy);
    const startMs = nowMs();
    const r = await request(`${ctx.apiUrl}/api/mcp/servers/${id}/connections/${encodeURIComponent(sessionId)}`, { method: 'DELETE', headers: FRESH });
    // 404: the session ended meanwhile, by itself.
    if (r.status !== 202 && r.status !== 404) throw new Error(`soak: DELETE ${id}/${sessionId}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return { kind: 'end-session', serverId: id, startMs, endMs: nowMs(), monitoringOnly: false, sessionId };
  },
  async 'kill-stdio'(ctx) {
    const rows = (await connections(ctx, ctx.commandServer)).filter((c) => c.process?.pid);
    if (rows.length === 0) return undefined;
    const row = pick(ctx, rows);
    const startMs = nowMs();
    try {
      process.kill(row.process!.pid, 'SIGKILL');
    } catch {
      return undefined; // it ended meanwhile
    }
    return { kind: 'kill-stdio', serverId: ctx.commandServer, startMs, endMs: nowMs(), monitoringOnly: false, sessionId: row.sessionId };
  },
  async 'kill-upstream'(ctx) {
    const startMs = nowMs();
    await ctx.killUpstream();
    await sleep(1000);
    await ctx.startUpstream();
    return { kind: 'kill-upstream', serverId: ctx.proxyServer, startMs, endMs: nowMs() + GRACE_MS, monitoringOnly: false };
  },
  async 'freeze-api'(ctx) {
    const startMs = nowMs();
    process.kill(ctx.apiPid, 'SIGSTOP');
    await sleep(3000);
    process.kill(ctx.apiPid, 'SIGCONT');
    return { kind: 'freeze-api', serverId: '*', startMs, endMs: nowMs(), monitoringOnly: true };
  },
  async 'fill-disk'(ctx) {
    if (!ctx.smallDisk) return undefined;
    const startMs = nowMs();
    const filler = await fillDisk(ctx.stateDir);
    await sleep(10_000);
    await freeDisk(filler);
    return { kind: 'fill-disk', serverId: '*', startMs, endMs: nowMs(), monitoringOnly: true };
  },
  async 'block-snapshot'(ctx) {
    // A directory where the snapshot goes: every write of the writer fails for 10 s.
    const id = pick(ctx, ctx.serverIds);
    const file = path.join(ctx.stateDir, id, 'snapshot.json');
    const startMs = nowMs();
    await rm(file, { force: true });
    await mkdir(file).catch(() => undefined);
    await sleep(10_000);
    await rmdir(file).catch(() => undefined);
    return { kind: 'block-snapshot', serverId: id, startMs, endMs: nowMs(), monitoringOnly: true };
  },
  async fuzz(ctx) {
    const id = pick(ctx, ctx.serverIds);
    const row = await getJson<{ servers: { serverId: string; mcpUrl: string | null }[] }>(`${ctx.apiUrl}/api/mcp/servers`);
    const url = row.servers.find((s) => s.serverId === id)?.mcpUrl;
    if (!url) return undefined;
    const valid = (await connections(ctx, id)).map((c) => c.sessionId);
    // Hostile requests may name our clients' sessions, as an attacker could, but never end one:
    // a DELETE of a valid id would be a legitimate request, not a fault of monitoring.
    const gen = new FuzzGenerator(Math.floor(ctx.rand() * 2 ** 31), { valid, modern: valid.filter((s) => s.startsWith('m-')) });
    const startMs = nowMs();
    const statuses: Record<string, number> = {};
    for (let i = 0; i < 200; i += 1) {
      const req = gen.next();
      if (req.method === 'DELETE') continue;
      const status = await send(url, req).catch(() => 0);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    return { kind: 'fuzz', serverId: id, startMs, endMs: nowMs(), monitoringOnly: true, note: JSON.stringify(statuses) };
  },
};

/** The fault names, each drawn as often as the others. */
export const FAULT_KINDS = Object.keys(FAULTS);

/** Runs one fault of `kind`; undefined when there was nothing to act on. */
export function injectFault(kind: string, ctx: FaultContext): Promise<FaultWindow | undefined> {
  return FAULTS[kind]!(ctx);
}
