/**
 * How the HTTP endpoints (hosted and `--upstream`) time and judge each JSON-RPC request they
 * serve, for the {@link RequestObserver}s (finished-request.ts). At arrival: a start time
 * (`process.hrtime.bigint()`), and method and name read from the body already parsed (each
 * element of a batch; notifications are activity, not operations). The outcome: the response message as the SDK hands it to its transport (`send`,
 * tapped: no parsing of what it serialized, JSON or SSE alike), else, for answers no transport
 * sends (our own 400/404/413/503, the modern ladder's rejections), the HTTP status. Told once, as
 * one FinishedRequest per operation, when the HTTP response closes; a `tools/list` result at
 * once, as it passes.
 *
 * `subscriptions/listen` (modern) has no final response: its stream stays open until the client
 * or the server ends it. It is told like any request, at the close of its response, with the
 * stream's lifetime as its duration and the HTTP status as its outcome: honest about what
 * happened, and kept apart from the rest by its method label.
 */
import type { Era } from '../../shared/snapshot.js';
import type { RequestObserver } from './finished-request.js';
import { requestOutcome, type RequestOutcome } from './request-outcome.js';

/** A JSON-RPC request id. */
export type JsonRpcId = string | number;

/** One JSON-RPC request under way. */
export interface PendingOperation {
  id: JsonRpcId;
  method: string;
  /** The tool or prompt name of `tools/call` / `prompts/get`, else null. */
  name: string | null;
  /** `params.cursor` of a `tools/list` (as sent), else undefined. */
  cursor: string | undefined;
  /** The call it came in (its connection, once a leg knows it). */
  readonly call: HttpCall;
  /** Set from the response message, when one passes through a transport. */
  answer: RequestOutcome | undefined;
}

/**
 * One HTTP POST to `/mcp`: when it came, its operations once its body is read, and the listed
 * connection it belongs to, as the legs learn it (a FinishedRequest's `sessionId`, `era`, `client`).
 */
export interface HttpCall {
  t0: bigint;
  /** Undefined until the body is read (an answer before that is an operation of unknown method). */
  ops: PendingOperation[] | undefined;
  /** The first method of the body, request or notification (the connection's `lastMethod`). */
  method: string | undefined;
  /** The listed connection's `sessionId`; null while none is (refused, past the cap, not yet initialized). */
  sessionId: string | null;
  era: Era;
  /** `clientInfo.name` as the client sent it, or null. */
  client: string | null;
}

/** A new call, at arrival; `era` as far as the headers tell (the front door corrects it once the body is classified). */
export function arrive(era: Era): HttpCall {
  return { t0: process.hrtime.bigint(), ops: undefined, method: undefined, sessionId: null, era, client: null };
}

/** `clientInfo.name` as sent, or null (for a FinishedRequest's `client`). */
export function clientName(clientInfo: unknown): string | null {
  const name = typeof clientInfo === 'object' && clientInfo !== null ? (clientInfo as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : null;
}

function operationOf(m: unknown, call: HttpCall): PendingOperation | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const r = m as { id?: unknown; method?: unknown; params?: { name?: unknown; cursor?: unknown } | null };
  if (typeof r.method !== 'string' || (typeof r.id !== 'string' && typeof r.id !== 'number')) return undefined;
  const named = r.method === 'tools/call' || r.method === 'prompts/get';
  const name = named && typeof r.params?.name === 'string' ? r.params.name : null;
  const cursor = r.method === 'tools/list' && typeof r.params?.cursor === 'string' ? r.params.cursor : undefined;
  return { id: r.id, method: r.method, name, cursor, call, answer: undefined };
}

function methodOf(m: unknown): string | undefined {
  const method = typeof m === 'object' && m !== null ? (m as { method?: unknown }).method : undefined;
  return typeof method === 'string' ? method : undefined;
}

/** Reads the operations (and the first method) of a parsed body into `call`. */
export function readBody(call: HttpCall, body: unknown): void {
  if (Array.isArray(body)) {
    const ops: PendingOperation[] = [];
    for (const m of body) {
      const op = operationOf(m, call);
      if (op) ops.push(op);
    }
    call.ops = ops;
    call.method = methodOf(body[0]);
    return;
  }
  const op = operationOf(body, call);
  call.ops = op ? [op] : [];
  call.method = methodOf(body);
}

/**
 * The server's response `message` to `op` passed: its outcome is kept for {@link finish}, and
 * the result of a `tools/list` is told to `observer` (`toolsListed`) at once.
 */
export function settle(op: PendingOperation, message: unknown, observer: RequestObserver | undefined): void {
  op.answer = requestOutcome(message);
  const result = (message as { result?: unknown }).result;
  if (op.method === 'tools/list' && result !== undefined) observer?.toolsListed?.({ sessionId: op.call.sessionId, cursor: op.cursor, result });
}

/**
 * Tells `observer` of the operations of `call` when its response has closed: each with its own
 * outcome, or that of `status` (and `code`, the JSON-RPC code of our own error answer, when we
 * wrote one). A call answered before its body was read (404, 413, 503) counts as one operation
 * of method '' when it failed; a POST of notifications alone counts none.
 */
export function finish(call: HttpCall, status: number, code: number | null, observer: RequestObserver): void {
  const seconds = Number(process.hrtime.bigint() - call.t0) / 1e9;
  const endedAtMs = Date.now();
  // Each FinishedRequest is built whole, in one shape: this runs for every request served.
  if (call.ops === undefined) {
    if (status < 400) return;
    const o = requestOutcome(undefined, status, code);
    observer.finished({ endedAtMs, seconds, sessionId: call.sessionId, era: call.era, client: call.client, method: '', name: null, outcome: o.outcome, errorCode: o.errorCode, answered: false });
    return;
  }
  // Only a response message of the server makes a name known: a 2xx status alone shows nothing.
  for (const op of call.ops) {
    const o = op.answer ?? requestOutcome(undefined, status, code);
    observer.finished({ endedAtMs, seconds, sessionId: call.sessionId, era: call.era, client: call.client, method: op.method, name: op.name, outcome: o.outcome, errorCode: o.errorCode, answered: op.answer?.outcome === 'ok' });
  }
}

/** Anything with the SDK transport's `send` (both SDK generations). */
interface Sending {
  send(message: never, options?: never): Promise<void>;
}

/**
 * Calls `onResponse` with every JSON-RPC response `transport` sends (results and errors, not
 * requests or notifications), before it goes out. `connect()` replaces a transport's
 * `onmessage` but never its `send`, so tap after `connect()`.
 */
export function tapResponses(transport: Sending, onResponse: (message: { id: JsonRpcId }) => void): void {
  const send = transport.send.bind(transport) as (m: unknown, o?: unknown) => Promise<void>;
  (transport as { send: (m: unknown, o?: unknown) => Promise<void> }).send = (m, o) => {
    const r = m as { id?: JsonRpcId; result?: unknown; error?: unknown };
    if (r.id !== undefined && (r.result !== undefined || r.error !== undefined)) onResponse(r as { id: JsonRpcId });
    return send(m, o);
  };
}
