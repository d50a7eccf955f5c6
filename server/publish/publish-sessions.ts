/**
 * Who hears of the sessions of this MCP child, and in which order: the one place that
 * subscribes to the {@link SessionRegistry} on behalf of what publishes it. The publishing
 * classes only expose plain methods (`writer.connected()`, `sessionJournal.disconnected(end)`,
 * …), so the order below is the whole story; nothing depends on the order objects were built.
 *
 * The lock's `'compromised'` event is not wired here: the SnapshotWriter and the JournalWriter
 * each subscribe to their own WriterLock, because no owner of a file the lock guards may go on
 * writing without it whoever wires it, and their order among the lock's listeners is not a
 * correctness condition (the lock is marked lost before it emits, and every write checks it).
 */
import type { Logger } from 'pino';
import type { OperationRecorder } from '../operations/operation-recorder.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import type { SessionJournal } from './session-journal.js';
import type { SnapshotWriter } from './snapshot-writer.js';

/** What {@link publishSessions} connects. */
export interface PublishSessionsOptions {
  registry: SessionRegistry;
  /** Writes `snapshot.json`; its `seq` is what journal lines refer to. */
  writer: SnapshotWriter;
  /** Writes the `connect`/`disconnect` lines of the journal. */
  sessionJournal: SessionJournal;
  /** Keeps the durations of ended sessions (published as `sessionDurations`). */
  recorder: OperationRecorder;
  /** Where each session start is logged (at debug). */
  log: Logger;
}

/**
 * Subscribes once to each registry event and passes it on in the order publishing needs. Call
 * it once, before the host starts (no event is missed, none is seen twice).
 */
export function publishSessions(o: PublishSessionsOptions): void {
  const { registry, writer, sessionJournal, recorder, log } = o;
  registry.on('connect', (c) => {
    // The writer first: it counts the change (its `seq` moves to the snapshot that will list
    // the session), and only then does the journal line take that `seq` (shared/journal.ts:
    // "the first snapshot that shows this event"). The other way round the line would name the
    // snapshot before, and a next writer would take a session whose snapshot never got written
    // for one already published (see unseen-sessions.ts), never counting it.
    writer.connected();
    sessionJournal.connected(c);
    // debug: under churn, one line per session would be most of what the child logs.
    log.debug({ sessionId: c.sessionId, clientIP: c.clientIP, client: c.clientInfo?.name, userAgent: c.userAgent }, 'session started');
  });
  registry.on('disconnect', (end) => {
    // The recorder before the writer: a write may be built at once, inside disconnected(), and
    // it must already hold this session's duration. Then the journal, for `seq` as above.
    recorder.sessionEnded(end.durationMs / 1000);
    writer.disconnected(end);
    sessionJournal.disconnected(end);
  });
  registry.on('activity', () => writer.activity());
}
