/**
 * What goes into the journal of this MCP child: a line for its start and its clean stop, and
 * one per session that begins or ends (from the registry's events).
 */
import type { Connection } from '../../shared/snapshot.js';
import type { JournalWriter } from './journal-writer.js';
import type { PreviousState } from './previous-state.js';
import type { SessionEnd, SessionRegistry } from '../sessions/session-registry.js';

export interface SessionJournalOptions {
  serverId: string;
  registry: SessionRegistry;
  journal: JournalWriter;
  /** The seq of the snapshot that shows a change made now (SnapshotWriter#seq). */
  seq: () => number;
}

/** Writes the journal lines of one MCP child; `detach()` stops following the registry. */
export class SessionJournal {
  readonly #o: SessionJournalOptions;

  /** Follows the registry at once; make it after the SnapshotWriter so that `seq` is current. */
  constructor(options: SessionJournalOptions) {
    this.#o = options;
    options.registry.on('connect', this.#onConnect);
    options.registry.on('disconnect', this.#onDisconnect);
  }

  /**
   * The writer took the lock and started at `startedAt`. The sessions a previous writer that
   * died left open end here, reason `shutdown`, their duration up to its last snapshot.
   */
  start(startedAt: Date, heartbeatMs: number, abandoned?: PreviousState['abandoned']): void {
    this.#o.journal.append({ event: 'start', ...this.#base(), startedAt: startedAt.toISOString(), heartbeatMs });
    for (const c of abandoned?.connections ?? []) {
      const durationMs = Date.parse(abandoned!.lastWrittenAt) - Date.parse(c.connectedAt);
      this.#onDisconnect({ connection: c, reason: 'shutdown', durationMs: Number.isFinite(durationMs) ? durationMs : 0 });
    }
  }

  /** The writer stops cleanly; `seq` is that of its final `stopped` snapshot. */
  stop(seq: number): void {
    this.#o.journal.append({ event: 'stop', ...this.#base(), seq });
  }

  /**
   * Stops following the registry: no more `connect`/`disconnect` lines. Called when the writer
   * lock is lost, before the host closes its sessions, so that their ends are not journaled.
   */
  detach(): void {
    this.#o.registry.off('connect', this.#onConnect);
    this.#o.registry.off('disconnect', this.#onDisconnect);
  }

  readonly #onConnect = (c: Connection): void => {
    this.#o.journal.append({ event: 'connect', ...this.#base(), ...c, era: c.era ?? 'legacy' });
  };

  readonly #onDisconnect = (end: SessionEnd): void => {
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
  };

  #base(): { ts: string; pid: number; seq: number; serverId: string } {
    return { ts: new Date().toISOString(), pid: process.pid, seq: this.#o.seq(), serverId: this.#o.serverId };
  }
}
