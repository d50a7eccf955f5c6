/**
 * What the journal knows of a writer that died and its last snapshot does not show: sessions
 * it opened or closed after that snapshot was written (a kill between the journal line and the
 * next snapshot write, or writes that failed). Their lines carry a `seq` above the snapshot's,
 * the seq of a snapshot that never came. The next writer counts them, so that
 * `totalConnections` stays equal to the journal's connects, and ends the ones left open.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseJournalText } from '../../shared/journal.js';
import { connectionOf } from '../../shared/replay.js';
import type { CloseReason, Connection, Snapshot } from '../../shared/snapshot.js';

/** Sessions of the dead writer beyond its last snapshot. */
export interface UnseenSessions {
  /** Sessions it opened that its snapshot does not count. */
  opened: number;
  /** Sessions it closed that its snapshot does not count, by reason. */
  closed: Partial<Record<CloseReason, number>>;
  /** Sessions it opened after the snapshot and never closed. */
  open: Connection[];
  /** Sessions the snapshot lists that it closed afterwards. */
  endedListed: Set<string>;
}

/** Reads the journal `events.jsonl` beside the snapshot for the lines `prev`'s writer wrote after it. */
export async function unseenSessions(serverDir: string, prev: Snapshot): Promise<UnseenSessions> {
  const unseen: UnseenSessions = { opened: 0, closed: {}, open: [], endedListed: new Set() };
  let text: string;
  try {
    text = await readFile(path.join(serverDir, 'events.jsonl'), 'utf8');
  } catch {
    return unseen; // no journal (yet, or rotated right then): the snapshot is all there is
  }
  const lines = parseJournalText(text, 'events.jsonl', () => undefined);
  // Only this writer's lines: after its own start line (a pid can be used again by a later writer).
  let from = 0;
  lines.forEach((l, i) => {
    if (l.event === 'start' && l.pid === prev.pid) from = i;
  });
  const listed = new Set(prev.connections.map((c) => c.sessionId));
  const open = new Map<string, Connection>();
  for (const l of lines.slice(from)) {
    if (l.pid !== prev.pid || l.seq <= prev.seq) continue;
    if (l.event === 'connect') {
      unseen.opened += 1;
      open.set(l.sessionId, connectionOf(l));
    } else if (l.event === 'disconnect') {
      unseen.closed[l.reason] = (unseen.closed[l.reason] ?? 0) + 1;
      if (!open.delete(l.sessionId) && listed.has(l.sessionId)) unseen.endedListed.add(l.sessionId);
    }
  }
  unseen.open = [...open.values()];
  return unseen;
}
