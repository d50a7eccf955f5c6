/**
 * The text of a calls-journal line (shared/calls.ts), made from a {@link FinishedRequest} for
 * every request the child serves: the same text as `serializeCallLine` of the line's object,
 * without building that object. What a client sends the same way request after request (its
 * name, the method, the tool, its session) is bounded (server/sessions/client-fields.ts) and
 * quoted once per distinct value; the time is formatted once per second.
 */
import { CALL_CLIENT_MAX, CALL_METHOD_MAX, CALL_NAME_MAX, CALL_SESSION_ID_MAX } from '../../shared/calls.js';
import type { FinishedRequest } from '../operations/finished-request.js';
import { boundText } from '../sessions/client-fields.js';

/** Session ids whose quoted form is kept at once; a client inventing ids only empties it more often. */
const SESSIONS_KEPT = 256;

/** Makes line texts for one writer process; see the file comment. */
export class CallLineText {
  readonly #pid: string;
  readonly #client = lastQuoted(CALL_CLIENT_MAX, 'null');
  readonly #method = lastQuoted(CALL_METHOD_MAX, '""');
  readonly #name = lastQuoted(CALL_NAME_MAX, 'null');
  readonly #sessions = new Map<string, string>();
  #second = NaN;
  /** `"YYYY-MM-DDTHH:MM:SS.` of {@link #second}. */
  #secondText = '';

  constructor(pid: number = process.pid) {
    this.#pid = String(pid);
  }

  /** Line `seq` for `r`, with its newline. */
  text(r: FinishedRequest, seq: number): string {
    // Microseconds are plenty; more digits only lengthen the line.
    const durationMs = Number.isFinite(r.seconds) && r.seconds > 0 ? Math.round(r.seconds * 1e6) / 1e3 : 0;
    const errorCode = Number.isSafeInteger(r.errorCode) ? String(r.errorCode) : 'null';
    return (
      `{"ts":${this.#time(r.endedAtMs)},"seq":${seq},"pid":${this.#pid},"sessionId":${this.#session(r.sessionId)},` +
      `"era":"${r.era}","client":${this.#client(r.client)},"method":${this.#method(r.method)},"name":${this.#name(r.name)},` +
      `"durationMs":${durationMs},"outcome":"${r.outcome}","errorCode":${errorCode}}\n`
    );
  }

  /** `ms` as a quoted ISO-8601 UTC time, as `Date#toISOString` writes it. */
  #time(at: number): string {
    const ms = Math.floor(at);
    const second = Math.floor(ms / 1000);
    if (second !== this.#second) {
      // Whatever the year looks like, the text ends in `.mmmZ`.
      this.#secondText = `"${new Date(second * 1000).toISOString().slice(0, -4)}`;
      this.#second = second;
    }
    const milli = ms - second * 1000;
    return `${this.#secondText}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z"`;
  }

  #session(id: string | null): string {
    if (id === null) return 'null';
    let quoted = this.#sessions.get(id);
    if (quoted === undefined) {
      if (this.#sessions.size >= SESSIONS_KEPT) this.#sessions.clear();
      quoted = quote(boundText(id, CALL_SESSION_ID_MAX), 'null');
      this.#sessions.set(id, quoted);
    }
    return quoted;
  }
}

/** A string bounded to `max` and JSON-quoted; `fallback` (JSON) for anything else. */
function quote(value: string | undefined, fallback: string): string {
  return value === undefined ? fallback : JSON.stringify(value);
}

/** {@link quote} of `boundText(value, max)`, remembering its last input and answer. */
function lastQuoted(max: number, fallback: string): (value: unknown) => string {
  let input: unknown = null;
  let output = fallback;
  return (value) => {
    if (value !== input) {
      output = quote(boundText(value, max), fallback);
      input = value;
    }
    return output;
  };
}
