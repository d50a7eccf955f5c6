/**
 * The calls journal `state/<serverId>/calls.jsonl` (docs/state-directory.md): one JSON line per JSON-RPC
 * request with an id that a client made, written when it ended, rotated by size like the event
 * journal (`calls.1.jsonl` newest … `calls.N.jsonl` oldest, see journal-names.ts). Never any
 * payload: no arguments, results or resource contents, only what the line below names.
 *
 * Its lines, their bounds and their parsing, for the writer (server/publish/calls-journal.ts) and
 * every reader (`mcp-monitor calls`, `GET /api/mcp/servers/:serverId/calls`). Pure.
 */
import { ERAS, type Era } from './snapshot.js';
import { isCount, isIsoTime, isObject } from './validate.js';

/**
 * What became of a request: `ok`; `error` (a JSON-RPC error of the server); `tool_error` (a
 * `tools/call` result with `isError: true`); `rejected` (the caller's fault, or refused before the
 * server saw it: 413, 404 for an unknown session, the session cap).
 */
export const CALL_OUTCOMES = ['ok', 'error', 'tool_error', 'rejected'] as const;
export type CallLineOutcome = (typeof CALL_OUTCOMES)[number];

/** Longest `client` kept: as a stored `clientInfo.name` (server/sessions/client-fields.ts). */
export const CALL_CLIENT_MAX = 256;
/** Longest `method` kept (real ones are short: `tools/call`, `resources/read`). */
export const CALL_METHOD_MAX = 64;
/** Longest tool or prompt `name` kept (as a catalog's tool name). */
export const CALL_NAME_MAX = 128;
/** Longest `sessionId` a line carries (a legacy id the server issued, or `m-` and 16 hex digits). */
export const CALL_SESSION_ID_MAX = 256;

/** One line of the calls journal. */
export interface CallLine {
  /** When the request ended, ISO-8601 UTC. */
  ts: string;
  /** Grows by one with every line of one writer process (its own counter, not the snapshot's). */
  seq: number;
  /** The writer process. */
  pid: number;
  /** The connection as the snapshot lists it; null for a request refused before any was (an unknown session). */
  sessionId: string | null;
  era: Era;
  /** The client's `clientInfo.name`, bounded and without control characters; null when unknown. */
  client: string | null;
  /** The JSON-RPC method, bounded (`''` when the request was refused before its body was read). */
  method: string;
  /** The tool or prompt name the client sent (`tools/call`, `prompts/get`), bounded; else null. */
  name: string | null;
  /** From arrival to end, milliseconds, with fractions. */
  durationMs: number;
  outcome: CallLineOutcome;
  /** The JSON-RPC error code of the answer; null for `ok`, `tool_error` and a refusal without one. */
  errorCode: number | null;
}

/** A line that is not a calls line; `code` is always `EINVALID`. */
export class CallLineError extends Error {
  readonly code = 'EINVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CallLineError';
  }
}

function nullableText(v: Record<string, unknown>, key: string, max: number): void {
  const x = v[key];
  if (x !== null && (typeof x !== 'string' || x.length > max)) throw new CallLineError(`${key} must be null or a string of at most ${max} characters`);
}

/** Parses one line of the calls journal (without its newline); throws {@link CallLineError}. */
export function parseCallLine(text: string): CallLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new CallLineError(text.trim() === '' ? 'empty line' : `not JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isObject(v)) throw new CallLineError('not a JSON object');
  if (!isIsoTime(v.ts)) throw new CallLineError(`ts is not an ISO-8601 UTC time: ${JSON.stringify(v.ts)}`);
  if (!isCount(v.seq)) throw new CallLineError('seq must be a non-negative integer');
  if (!isCount(v.pid) || v.pid === 0) throw new CallLineError('pid must be a positive integer');
  nullableText(v, 'sessionId', CALL_SESSION_ID_MAX);
  if (!(ERAS as readonly unknown[]).includes(v.era)) throw new CallLineError(`era is ${JSON.stringify(v.era)}, expected one of ${ERAS.join('|')}`);
  nullableText(v, 'client', CALL_CLIENT_MAX);
  if (typeof v.method !== 'string' || v.method.length > CALL_METHOD_MAX) throw new CallLineError(`method must be a string of at most ${CALL_METHOD_MAX} characters`);
  nullableText(v, 'name', CALL_NAME_MAX);
  if (typeof v.durationMs !== 'number' || !Number.isFinite(v.durationMs) || v.durationMs < 0) throw new CallLineError('durationMs must be a non-negative number');
  if (!(CALL_OUTCOMES as readonly unknown[]).includes(v.outcome)) throw new CallLineError(`outcome is ${JSON.stringify(v.outcome)}, expected one of ${CALL_OUTCOMES.join('|')}`);
  if (v.errorCode !== null && !Number.isSafeInteger(v.errorCode)) throw new CallLineError('errorCode must be an integer or null');
  return v as unknown as CallLine;
}

/**
 * Serializes a calls line as the file holds it: one line of JSON and a newline. The writer makes
 * the same text without the object (server/publish/call-line-text.ts, tested against this).
 */
export function serializeCallLine(line: CallLine): string {
  return `${JSON.stringify(line)}\n`;
}
