/**
 * The one seam between the endpoints (hosted, `--upstream`, `wrap`) and everything that learns
 * from what clients asked: each JSON-RPC request with an id, once it ended (answered, refused, or
 * its response closed unanswered), is told to every {@link RequestObserver} as one
 * {@link FinishedRequest}; each `tools/list` result that passes is told too. The observers today:
 * the snapshot's `operations` (OperationRecorder), the calls journal (`calls.jsonl`) and the tool
 * catalog (`catalog`), see ../../docs/architecture.md. An endpoint never knows which observers
 * there are; it tells a {@link RequestObservers} fan-out.
 *
 * What is in a FinishedRequest is what the contract lets leave the request (docs/state-directory.md, calls.jsonl): no
 * arguments, results or other payload; `method` and `name` exactly as the client sent them
 * (hostile: every observer bounds them itself).
 */
import type { Era } from '../../shared/snapshot.js';

/**
 * What became of a request (the calls journal's `outcome`): `ok`; `error` (a JSON-RPC error of the
 * server, not the caller's fault); `tool_error` (a `tools/call` result with `isError: true`);
 * `rejected` (the caller's fault: the codes of CALLER_FAULT_CODES or invalid tool arguments, or
 * refused before the server saw it: 413, 404 for an unknown session, the cap).
 */
export type CallOutcome = 'ok' | 'error' | 'tool_error' | 'rejected';

/** One request that ended. */
export interface FinishedRequest {
  /** When it ended (its response closed or was seen), ms since the epoch. */
  endedAtMs: number;
  /** Its duration from arrival to end, seconds (monotonic clock). */
  seconds: number;
  /** The connection's `sessionId` as the snapshot lists it; null when none is listed (a refused request). */
  sessionId: string | null;
  era: Era;
  /** The client's `clientInfo.name` as sent (unbounded), or null. */
  client: string | null;
  /** The JSON-RPC method as sent ('' when the body was never read). */
  method: string;
  /** The tool or prompt name as sent, for `tools/call` and `prompts/get`; else null. */
  name: string | null;
  outcome: CallOutcome;
  /** The JSON-RPC error code of the answer; null for `ok`, `tool_error` and a refusal without one. */
  errorCode: number | null;
  /** The server answered with a result (for `tools/call`, without `isError: true`): only that makes a new method or name known. */
  answered: boolean;
}

/** A `tools/list` result as it passed (one page), with the cursor its request asked for. */
export interface ToolsPage {
  /** The connection it was answered on; null when none is listed. */
  sessionId: string | null;
  /** `params.cursor` of the request; undefined for the first page. */
  cursor: string | undefined;
  /** The `result` object as the server sent it (hostile: unchecked). */
  result: unknown;
}

/** Learns from ended requests; must not throw (a throw is caught, logged and ignored by the fan-out). */
export interface RequestObserver {
  finished(r: FinishedRequest): void;
  /** A `tools/list` page passed. */
  toolsListed?(page: ToolsPage): void;
}

/** The observers of one writer: what endpoints tell. An observer that throws never stops the others or the request. */
export class RequestObservers implements RequestObserver {
  readonly #observers: RequestObserver[] = [];
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = () => undefined) {
    this.#onError = onError;
  }

  /** Adds an observer (at wiring time, in writer-run.ts). */
  add(o: RequestObserver): this {
    this.#observers.push(o);
    return this;
  }

  finished(r: FinishedRequest): void {
    for (const o of this.#observers) {
      try {
        o.finished(r);
      } catch (err) {
        this.#onError(err);
      }
    }
  }

  toolsListed(page: ToolsPage): void {
    for (const o of this.#observers) {
      try {
        o.toolsListed?.(page);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}
