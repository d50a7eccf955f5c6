/** `mcp-monitor server` spawned for the journal and CLI tests, and its files. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseSnapshot, type Snapshot } from '../../shared/snapshot.js';
import { Proc, makeStateDir } from './processes.js';
import { waitFor } from './wait-for.js';

export async function readSnap(dir: string, id = 'default'): Promise<Snapshot> {
  return parseSnapshot(await readFile(path.join(dir, id, 'snapshot.json'), 'utf8'));
}

export function waitSnap(dir: string, pred: (s: Snapshot) => boolean, what = 'a snapshot', id = 'default', timeout = 15_000): Promise<Snapshot> {
  return waitFor(async () => {
    const s = await readSnap(dir, id).catch(() => undefined);
    return s && pred(s) ? s : undefined;
  }, { what, timeout });
}

/** Starts a server on port 0 (heartbeat 1 s: a loaded machine does not make it look stale) and waits for its `running` snapshot. */
export async function startServer(options: { stateDir?: string; serverId?: string; args?: string[]; heartbeatMs?: number } = {}) {
  const stateDir = options.stateDir ?? (await makeStateDir());
  const serverId = options.serverId ?? 'default';
  const proc = new Proc(['server', '--mcp-port', '0', '--heartbeat-ms', String(options.heartbeatMs ?? 1000), '--state-dir', stateDir, '--server-id', serverId, ...(options.args ?? [])]);
  const snap = await waitFor(async () => {
    const s = await readSnap(stateDir, serverId).catch(() => undefined);
    return s?.status === 'running' && s.pid === proc.pid ? s : undefined;
  }, { timeout: 20_000, what: `server ${serverId} running (${proc.stderr.slice(-3).join(' | ')})` });
  return { proc, stateDir, serverId, url: snap.mcp!.url, snap };
}

/** JSON lines printed so far by a process (stdout), parsed. */
export function jsonLines(proc: Proc): any[] {
  return proc.stdout.filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}
