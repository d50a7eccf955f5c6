/**
 * The control directory of a server: `state/<serverId>/control/` holds requests to
 * its live writer, one file `<name>.json` each, written atomically (a temp file renamed into
 * place) by the API (`by: "api"`) or the CLI (`by: "cli:<user>"`). The writer creates the
 * directory at start, picks each request up within a second, acts on it and removes it.
 * Requests come through the file system, so the writer reads them as it reads anything a client
 * sends: bounded and checked ({@link parseControlRequest}). Writing one is
 * shared/io/write-control-request.ts.
 */
import path from 'node:path';
import { BY_MAX } from './journal.js';
import { serverDir } from './paths.js';

export const CONTROL_DIR = 'control';

/** A request file: what the writer reads. Anything else there (temp files too) is not a request. */
export const CONTROL_REQUEST_RE = /^[A-Za-z0-9_-]{1,100}\.json$/;

/**
 * The temp file of a request being written (`<name>.json.<digits>`, see writeFileNoFollow): the
 * writer leaves it alone while it may be in flight, and removes one older than
 * {@link CONTROL_REQUEST_MAX_AGE_MS} (its writer was killed mid-write).
 */
export const CONTROL_TEMP_RE = /^[A-Za-z0-9_-]{1,100}\.json\.\d+$/;

/** A request file larger than this is not read (it is removed with a warning). */
export const CONTROL_REQUEST_MAX_BYTES = 4096;

/** Requests older than this found by a writer at start are removed unread: what an earlier run left. */
export const CONTROL_REQUEST_MAX_AGE_MS = 60_000;

/** How long a session id may be (`by`: {@link BY_MAX}, as the journal reads it). */
export const SESSION_ID_MAX = 256;

/** The actions a writer carries out. */
export type ControlAction = 'end-session';

export interface EndSessionRequest {
  action: 'end-session';
  sessionId: string;
  /** ISO-8601 UTC. */
  requestedAt: string;
  /** Who asked: `api`, or `cli:<user name>`. */
  by: string;
}

export type ControlRequest = EndSessionRequest;

export function controlDir(stateDir: string, serverId: string): string {
  return path.join(serverDir(stateDir, serverId), CONTROL_DIR);
}

/** Why a control request cannot be carried out, for the writer's warning. */
export class BadControlRequest extends Error {
  /** The text is not JSON at all (maybe a file still being written by a plain write). */
  readonly notJson: boolean;
  constructor(message: string, notJson = false) {
    super(message);
    this.name = 'BadControlRequest';
    this.notJson = notJson;
  }
}

function printable(s: string): boolean {
  // No control characters: `by` and the id end up in the journal and on terminals.
  return !/[\u0000-\u001f\u007f-\u009f]/.test(s);
}

/**
 * Whether a writer takes `sessionId` in a request: 1-{@link SESSION_ID_MAX} characters, none a
 * control character. The one rule for the writer, the API's route and the CLI, so that neither
 * writes a request the writer refuses.
 */
export function isControlSessionId(sessionId: string): boolean {
  return sessionId !== '' && sessionId.length <= SESSION_ID_MAX && printable(sessionId);
}

/** The request in `text`, checked; throws {@link BadControlRequest} saying what is wrong. */
export function parseControlRequest(text: string): ControlRequest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new BadControlRequest('not JSON', true);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadControlRequest('not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.action !== 'end-session') throw new BadControlRequest(`unknown action ${JSON.stringify(String(o.action)).slice(0, 80)}`);
  const { sessionId, requestedAt, by } = o;
  if (typeof sessionId !== 'string' || !isControlSessionId(sessionId)) throw new BadControlRequest(`bad sessionId (a string of 1-${SESSION_ID_MAX} printable characters)`);
  if (typeof requestedAt !== 'string' || Number.isNaN(Date.parse(requestedAt))) throw new BadControlRequest('bad requestedAt (an ISO-8601 time)');
  if (typeof by !== 'string' || by === '' || by.length > BY_MAX || !printable(by)) throw new BadControlRequest(`bad by (a string of 1-${BY_MAX} printable characters)`);
  return { action: 'end-session', sessionId, requestedAt: new Date(Date.parse(requestedAt)).toISOString(), by };
}
