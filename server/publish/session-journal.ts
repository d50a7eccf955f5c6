/**
 * What goes into the journal of this MCP child: a line for its start and its clean stop, and
 * one per session that begins or ends (told by publishSessions, see publish-sessions.ts).
 */
import type { Connection } from '../../shared/snapshot.js';
import type { JournalWriter } from './journal-writer.js';
import type { PreviousState } from './previous-state.js';
import type { SessionEnd } from '../sessions/session-registry.js';

export interface SessionJournalOptions {
  serverId: string;
  journal: JournalWriter;
  /** The seq of the snapshot that shows a change made now (SnapshotWriter#seq). */
  seq: () => number;
}

/** Writes the journal lines of one MCP child; `detach()` stops the session lines. */
export class SessionJournal {
  readonly #o: SessionJournalOptions;
  #detached = false;

  constructor(options: SessionJournalOptions) {
    this.#o = options;
  }

  /**
   * The writer took the lock and started at `startedAt`. The sessions a previous writer that
   * died left open end here, reason `shutdown`, their duration up to its last snapshot.
   */
  start(startedAt: Date, heartbeatMs: number, abandoned?: PreviousState['abandoned']): void {
    this.#o.journal.append({ event: 'start', ...this.#base(), startedAt: startedAt.toISOString(), heartbeatMs });
    for (const c of abandoned?.connections ?? []) {
      const durationMs = Date.parse(abandoned!.lastWrittenAt) - Date.parse(c.connectedAt);
      this.#appendDisconnect({ connection: c, reason: 'shutdown', durationMs: Number.isFinite(durationMs) ? durationMs : 0 });
    }
  }

  /** The writer stops cleanly; `seq` is that of its final `stopped` snapshot. */
  stop(seq: number): void {
    this.#o.journal.append({ event: 'stop', ...this.#base(), seq });
  }

  /**
   * No more `connect`/`disconnect` lines from now on. Called when the writer lock is lost, before
   * the host closes its sessions, so that their ends are not journaled.
   */
  detach(): void {
    this.#detached = true;
  }

  /** A session began. Call it after the snapshot writer counted the change, so that `seq` is current. */
  connected(c: Connection): void {
    if (this.#detached) return;
    this.#o.journal.append({ event: 'connect', ...this.#base(), ...c, era: c.era ?? 'legacy' });
  }

  /** A session ended. Call it after the snapshot writer counted the change, so that `seq` is current. */
  disconnected(end: SessionEnd): void {
    if (!this.#detached) this.#appendDisconnect(end);
  }

  #appendDisconnect(end: SessionEnd): void {
    const c = end.connection;
    this.#o.journal.append({
      event: 'disconnect',
      ...this.#base(),
      sessionId: c.sessionId,
      reason: end.reason,
      durationMs: Math.max(0, Math.round(end.durationMs)),
      requestCount: c.requestCount,
      clientIP: c.clientIP,
      userAgent: c.userAgent,
      clientInfo: c.clientInfo,
      era: c.era ?? 'legacy',
      // Only on a session ended on request (reason `terminated`): who asked.
      ...(end.by !== undefined && { by: end.by }),
    });
  }

  #base(): { ts: string; pid: number; seq: number; serverId: string } {
    return { ts: new Date().toISOString(), pid: process.pid, seq: this.#o.seq(), serverId: this.#o.serverId };
  }
}
