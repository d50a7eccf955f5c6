/**
 * The event journal `state/<serverId>/events.jsonl`: one JSON line per
 * `start`, `connect`, `disconnect` and `stop` of one server id, appended by its live writer and
 * rotated by size into `events.1.jsonl` (newest) … `events.N.jsonl` (oldest).
 *
 * Its lines and their parsing, for every reader; reading the files is shared/io/read-journal.ts.
 * A line is never split across files; a last line without its newline is the torn write of a
 * killed writer, or the first part of a line whose writer waits for disk space to write the
 * rest; it is skipped with a warning.
 */
import { EVENT_JOURNAL } from './journal-names.js';
import { CLOSE_REASONS, ERAS, TRANSPORTS, type ClientInfo, type CloseReason, type Era, type LaunchedBy, type Transport } from './snapshot.js';
import { StateFileError } from './state-file-error.js';
import { isCount, isIsoTime, isObject } from './validate.js';

export const JOURNAL_EVENTS = ['start', 'connect', 'disconnect', 'stop'] as const;
export type JournalEvent = (typeof JOURNAL_EVENTS)[number];

/** Fields of every line. */
export interface JournalLineBase {
  event: JournalEvent;
  /** When it happened, ISO-8601 UTC. */
  ts: string;
  /** The writer process. */
  pid: number;
  /** The seq of the first snapshot that shows this event. */
  seq: number;
  serverId?: string;
}

/** A writer took the lock and started. */
export interface StartLine extends JournalLineBase {
  event: 'start';
  startedAt?: string;
  heartbeatMs?: number;
}

/** A session began; carries the connection's fields. */
export interface ConnectLine extends JournalLineBase {
  event: 'connect';
  sessionId: string;
  clientIP?: string | null;
  userAgent?: string | null;
  connectedAt?: string;
  lastActivity?: string;
  requestCount?: number;
  clientInfo?: ClientInfo | null;
  protocolVersion?: string | null;
  /** The connection's protocol era; lines written before eras were recorded have none (then legacy). */
  era?: Era;
  lastMethod?: string | null;
  /** `stdio` for a `wrap` connection; lines written before transports were recorded have none (then http). */
  transport?: Transport;
  launchedBy?: LaunchedBy | null;
}

/** A session ended. */
export interface DisconnectLine extends JournalLineBase {
  event: 'disconnect';
  sessionId: string;
  reason: CloseReason;
  durationMs: number;
  requestCount: number;
  clientIP?: string | null;
  userAgent?: string | null;
  clientInfo?: ClientInfo | null;
  /** The connection's protocol era; lines written before eras were recorded have none (then legacy). */
  era?: Era;
  /** Who asked, when the session was ended on request (reason `terminated`, see control-request.ts): `api`, `cli:<user>`. */
  by?: string;
}

/** The longest `by` a reader accepts (as the control request's). */
export const BY_MAX = 128;

/** The writer stopped cleanly (the `stopped` snapshot follows). */
export interface StopLine extends JournalLineBase {
  event: 'stop';
}

export type JournalLine = StartLine | ConnectLine | DisconnectLine | StopLine;

/** A line that is not a journal line; `code` is always `EINVALID`. */
export class JournalLineError extends Error {
  readonly code = 'EINVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JournalLineError';
  }
}

/**
 * The journal could not be read at all (`code`: the fs error code, e.g. `ENOENT`): a
 * {@link StateFileError} (kept under this name for the callers that know it).
 */
export const JournalReadError = StateFileError;
export type JournalReadError = StateFileError;

/** The warning for a last line without its newline: a killed writer's, or one still waiting for room. */
export function tornLineWarning(file: string): string {
  return `${file}: the last line is incomplete (a writer was killed mid-append, or is waiting for disk space); skipped`;
}

/** Parses one line of a journal (without its newline); throws {@link JournalLineError}. */
export function parseJournalLine(text: string): JournalLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new JournalLineError(text.trim() === '' ? 'empty line' : `not JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isObject(v)) throw new JournalLineError('not a JSON object');
  if (!(JOURNAL_EVENTS as readonly unknown[]).includes(v.event)) throw new JournalLineError(`event is ${JSON.stringify(v.event)}, expected one of ${JOURNAL_EVENTS.join('|')}`);
  if (!isIsoTime(v.ts)) throw new JournalLineError(`ts is not an ISO-8601 UTC time: ${JSON.stringify(v.ts)}`);
  if (!isCount(v.pid) || v.pid === 0) throw new JournalLineError('pid must be a positive integer');
  if (!isCount(v.seq)) throw new JournalLineError('seq must be a non-negative integer');
  if (v.event === 'connect' || v.event === 'disconnect') {
    if (typeof v.sessionId !== 'string' || v.sessionId === '') throw new JournalLineError(`${v.event} line without a sessionId`);
    if (v.era !== undefined && !(ERAS as readonly unknown[]).includes(v.era)) throw new JournalLineError(`era is ${JSON.stringify(v.era)}, expected one of ${ERAS.join('|')}`);
    if (v.transport !== undefined && !(TRANSPORTS as readonly unknown[]).includes(v.transport)) throw new JournalLineError(`transport is ${JSON.stringify(v.transport)}, expected one of ${TRANSPORTS.join('|')}`);
    const by = v.launchedBy;
    if (by !== undefined && by !== null && (!isObject(by) || !isCount(by.pid) || by.pid === 0 || (by.name !== null && typeof by.name !== 'string'))) {
      throw new JournalLineError('launchedBy must be null or {pid, name} with a positive pid and a string or null name');
    }
  }
  if (v.event === 'disconnect') {
    if (!(CLOSE_REASONS as readonly unknown[]).includes(v.reason)) throw new JournalLineError(`reason is ${JSON.stringify(v.reason)}, expected one of ${CLOSE_REASONS.join('|')}`);
    if (!isCount(v.durationMs)) throw new JournalLineError('durationMs must be a non-negative integer');
    if (!isCount(v.requestCount)) throw new JournalLineError('requestCount must be a non-negative integer');
    if (v.by !== undefined && (typeof v.by !== 'string' || v.by === '' || v.by.length > BY_MAX)) throw new JournalLineError(`by must be a string of 1-${BY_MAX} characters`);
  }
  return v as unknown as JournalLine;
}

/** Serializes a journal line as the file holds it: one line of JSON and a newline. */
export function serializeJournalLine(line: JournalLine): string {
  return `${JSON.stringify(line)}\n`;
}

/** `events.jsonl` for 0, `events.<n>.jsonl` for a rotated file. */
export function journalFileName(n: number): string {
  return EVENT_JOURNAL.file(n);
}

/**
 * Splits the text of one journal file into lines. A last line without its newline (torn, or not
 * yet finished on a full disk) is left out and reported. Bad lines are reported and left out.
 */
export function parseJournalText(text: string, file: string, onWarning: (message: string) => void): JournalLine[] {
  const parts = text.split('\n');
  const last = parts.pop()!;
  if (last !== '') onWarning(tornLineWarning(file));
  const lines: JournalLine[] = [];
  parts.forEach((part, i) => {
    if (part === '') return;
    try {
      lines.push(parseJournalLine(part));
    } catch (err) {
      onWarning(`${file}:${i + 1}: not a journal line (${(err as Error).message}); skipped`);
    }
  });
  return lines;
}
