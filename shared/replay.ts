/**
 * Who was connected at a given time, rebuilt from the journal (`inspect --at`). Pure.
 *
 * The lines are taken in the order they were written. A `start` ends whatever the previous
 * writer still held (if it stopped cleanly there is nothing left; if it died, its sessions died
 * with it), and so does a `stop` of the current writer. A writer that lost its lock may still
 * append its `disconnect` and `stop` lines after the next writer's `start`: lines of a
 * writer that an other one has replaced are news of the past and change nothing.
 */
import { eraOf } from './eras.js';
import type { ConnectLine, JournalLine } from './journal.js';
import type { Connection } from './snapshot.js';

export interface ReplayResult {
  /** Sessions open at that time, oldest first, as their `connect` lines recorded them. */
  connections: Connection[];
  /** The writer at that time (the last `start` or line seen), if any. */
  pid: number | null;
  /** Whether a writer was up then: started and not stopped. Null when the journal does not say. */
  writerUp: boolean | null;
  /** The first line's time: before it the journal knows nothing (rotated away or not yet written). */
  journalStartsAt: string | null;
  /** True when `at` is before the first line or the journal begins mid-run (no `start` first). */
  incomplete: boolean;
}

/** The connection a `connect` line recorded. */
export function connectionOf(line: ConnectLine): Connection {
  return {
    sessionId: line.sessionId,
    clientIP: line.clientIP === undefined ? '' : line.clientIP,
    userAgent: line.userAgent ?? null,
    connectedAt: line.connectedAt ?? line.ts,
    lastActivity: line.lastActivity ?? line.connectedAt ?? line.ts,
    requestCount: line.requestCount ?? 0,
    clientInfo: line.clientInfo ?? null,
    protocolVersion: line.protocolVersion ?? null,
    // A line written before eras were recorded has no era: its sessions were legacy ones.
    era: eraOf(line.era),
    lastMethod: typeof line.lastMethod === 'string' ? line.lastMethod : null,
    transport: line.transport === 'stdio' ? 'stdio' : 'http',
    launchedBy: line.launchedBy ?? null,
  };
}

/** The sessions open at `at` (ms since the epoch) according to `lines`. */
export function connectionsAt(lines: readonly JournalLine[], at: number): ReplayResult {
  const open = new Map<string, Connection>();
  let pid: number | null = null;
  let writerUp: boolean | null = null;
  /** Writers replaced by a later `start`: whatever they still append is ignored. */
  const replaced = new Set<number>();
  const first = lines[0];
  for (const line of lines) {
    if (Date.parse(line.ts) > at) continue;
    if (line.event === 'start') {
      if (pid !== null && pid !== line.pid) replaced.add(pid);
      // A pid used again by a later writer (containers: always the same pid) is that writer's.
      replaced.delete(line.pid);
      open.clear();
      pid = line.pid;
      writerUp = true;
      continue;
    }
    if (replaced.has(line.pid)) continue;
    switch (line.event) {
      case 'stop':
        if (pid !== null && pid !== line.pid) break; // not the current writer (its start line is missing)
        open.clear();
        pid = line.pid;
        writerUp = false;
        break;
      case 'connect':
        if (pid !== line.pid) {
          // A writer whose start line was rotated away (or is missing): its sessions replace the last one's.
          if (pid !== null) {
            replaced.add(pid);
            open.clear();
          }
          pid = line.pid;
          writerUp = true;
        }
        open.set(line.sessionId, connectionOf(line));
        break;
      case 'disconnect':
        if (pid === line.pid) open.delete(line.sessionId);
        break;
    }
  }
  const journalStartsAt = first?.ts ?? null;
  const incomplete = first === undefined || Date.parse(first.ts) > at || first.event !== 'start';
  return { connections: [...open.values()], pid, writerUp, journalStartsAt, incomplete };
}
