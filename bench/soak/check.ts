/**
 * What the soak proves, read from the files after the API has stopped: every session a client
 * was given is in the journal (no connect lost), every connect has its disconnect (none left
 * open), the snapshot's total equals the journal's connects, and every client failure is
 * explained by a fault of the server itself, never by one of monitoring alone.
 */
import path from 'node:path';
import { readJournal } from '../../shared/journal.js';
import { readSnapshotFile } from '../../shared/read-snapshot.js';
import type { FaultWindow } from './faults.js';
import type { Outcome, SoakLedger } from './load.js';

/** The verdict for one server. */
export interface ServerVerdict {
  serverId: string;
  sessionsGiven: number;
  connectLines: number;
  /** Sessions our clients were given that no `connect` line records. */
  lostConnects: string[];
  /** `connect` lines with no `disconnect` after the clean stop. */
  leftOpen: string[];
  /** Of those, the ones a later writer's `start` line closes (a writer killed before it listed them in a snapshot). */
  closedByStart: number;
  disconnectReasons: Record<string, number>;
  totalConnections: number | null;
  callsOk: number;
  callsFailed: number;
  /** Tool calls the snapshot's operations counted for the soak's tool. */
  callsRecorded: number;
  /** Failed connects and calls that no fault explains. */
  unexplained: Outcome[];
}

function explained(o: Outcome, faults: FaultWindow[]): boolean {
  return faults.some((f) => {
    if (f.sessionId !== undefined) return o.sessionId === f.sessionId && o.atMs >= f.startMs;
    if (f.monitoringOnly) return false;
    // The operation overlapped the fault's window.
    return f.serverId === o.serverId && o.atMs >= f.startMs && o.startMs <= f.endMs;
  });
}

/** The verdict for `serverId` from its files in `stateDir`. */
export async function checkServer(stateDir: string, serverId: string, tool: string, ledger: SoakLedger, faults: FaultWindow[]): Promise<ServerVerdict> {
  const dir = path.join(stateDir, serverId);
  const { lines } = await readJournal(dir, () => undefined);
  const connected = new Set<string>();
  const open = new Set<string>();
  /** Open when a later writer started: the reading rule of `inspect --at` (shared/replay.ts) ends them there. */
  const openAtStart = new Set<string>();
  const reasons: Record<string, number> = {};
  let connectLines = 0;
  for (const l of lines) {
    if (l.event === 'start') {
      for (const sid of open) openAtStart.add(sid);
    } else if (l.event === 'connect') {
      connectLines += 1;
      connected.add(l.sessionId);
      open.add(l.sessionId);
    } else if (l.event === 'disconnect') {
      open.delete(l.sessionId);
      reasons[l.reason] = (reasons[l.reason] ?? 0) + 1;
    }
  }
  const given = [...(ledger.sessions.get(serverId) ?? [])];
  const snap = await readSnapshotFile(path.join(dir, 'snapshot.json')).catch(() => undefined);
  const mine = ledger.outcomes.filter((o) => o.serverId === serverId);
  const failed = mine.filter((o) => !o.ok && o.what !== 'end');
  const recorded = (snap?.operations ?? []).filter((o) => o.method === 'tools/call' && o.name === tool).reduce((n, o) => n + o.count, 0);
  return {
    serverId,
    sessionsGiven: given.length,
    connectLines,
    lostConnects: given.filter((s) => !connected.has(s)),
    leftOpen: [...open],
    closedByStart: [...open].filter((sid) => openAtStart.has(sid)).length,
    disconnectReasons: reasons,
    totalConnections: snap?.totalConnections ?? null,
    callsOk: mine.filter((o) => o.what === 'call' && o.ok).length,
    callsFailed: mine.filter((o) => o.what === 'call' && !o.ok).length,
    callsRecorded: recorded,
    unexplained: failed.filter((o) => !explained(o, faults)),
  };
}
