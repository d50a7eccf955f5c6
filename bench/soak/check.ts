/**
 * What the soak proves, read from the files after the API has stopped: every session a client
 * was given is in the journal (no connect lost), every connect has its disconnect (none left
 * open), the snapshot's total equals the journal's connects, every call a client completed is
 * counted in `operations`, and every client failure is explained by a fault of the server
 * itself, never by one of monitoring alone.
 *
 * A SIGKILL of a child takes with it what it counted since its last snapshot write (a write
 * follows activity within `ACTIVITY_MS`): calls completed just before such a kill are "at
 * risk", and the count may miss them, never more.
 */
import path from 'node:path';
import { readJournal } from '../../shared/io/read-journal.js';
import { readSnapshotFile } from '../../shared/io/read-snapshot.js';
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
  /** Calls completed within {@link AT_RISK_MS} before a SIGKILL of this server's child. */
  callsAtRisk: number;
  /** `callsOk - callsAtRisk <= callsRecorded <= callsOk + callsFailed` (a failed call may have been answered, too late). */
  callsCounted: boolean;
  /** Failed connects and calls that no fault explains. */
  unexplained: Outcome[];
  /** The journal's lines of the sessions left open, and of the `start` lines after them (what to look at). */
  leftOpenLines: string[];
}

/** A snapshot write follows activity within 250 ms (server/publish/snapshot-writer.ts); a write takes a few more. */
const AT_RISK_MS = 1000;

function explained(o: Outcome, faults: FaultWindow[]): boolean {
  return faults.some((f) => {
    if (f.monitoringOnly || f.serverId !== o.serverId) return false;
    const overlaps = o.atMs >= f.startMs && o.startMs <= f.endMs;
    if (f.sessionId === undefined) return overlaps;
    if (o.sessionId === f.sessionId) return o.atMs >= f.startMs;
    // A session is listed from its `initialize`: the fault may have ended one whose client
    // was still waiting for the answer, and so never learnt its id.
    return o.what === 'connect' && o.sessionId === undefined && overlaps;
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
  const calls = mine.filter((o) => o.what === 'call');
  const callsOk = calls.filter((o) => o.ok).length;
  const callsFailed = calls.length - callsOk;
  const kills = faults.filter((f) => f.kind === 'kill-child' && f.serverId === serverId);
  const callsAtRisk = calls.filter((o) => o.ok && kills.some((k) => o.atMs <= k.startMs && o.atMs >= k.startMs - AT_RISK_MS)).length;
  const leftOpen = [...open];
  // Their lines, and the writers' starts from the first of them on.
  const mentions = (l: (typeof lines)[number]) => 'sessionId' in l && open.has(l.sessionId);
  const first = lines.findIndex(mentions);
  const leftOpenLines = first < 0 ? [] : lines.slice(first).filter((l) => mentions(l) || l.event === 'start').slice(0, 40).map((l) => JSON.stringify(l));
  return {
    serverId,
    sessionsGiven: given.length,
    connectLines,
    lostConnects: given.filter((s) => !connected.has(s)),
    leftOpen,
    closedByStart: leftOpen.filter((sid) => openAtStart.has(sid)).length,
    disconnectReasons: reasons,
    totalConnections: snap?.totalConnections ?? null,
    callsOk,
    callsFailed,
    callsRecorded: recorded,
    callsAtRisk,
    callsCounted: callsOk - callsAtRisk <= recorded && recorded <= callsOk + callsFailed,
    unexplained: failed.filter((o) => !explained(o, faults)),
    leftOpenLines,
  };
}
