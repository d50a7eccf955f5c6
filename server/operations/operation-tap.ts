/**
 * How the host times and judges each JSON-RPC request it serves (the snapshot's `operations`, see
 * shared/operations.ts). At arrival: a start time (`process.hrtime.bigint()`), and method and name
 * read from the body Express already parsed (each element of a batch; notifications are activity,
 * not operations). The outcome: the response message as the SDK hands it to its transport (`send`,
 * tapped: no parsing of what it serialized, JSON or SSE alike), else, for answers no transport
 * sends (our own 400/404/413/503, the modern ladder's rejections), the HTTP status. Recorded once,
 * when the HTTP response closes.
 *
 * `subscriptions/listen` (modern) has no final response: its stream stays open until the client
 * or the server ends it. It is recorded like any request, at the close of its response, with the
 * stream's lifetime as its duration and the HTTP status as its outcome: honest about what
 * happened, and kept apart from the rest by its method label.
 */
import { outcomeOf, outcomeOfStatus, type OperationOutcome, type OperationRecorder } from './operation-recorder.js';

/** A JSON-RPC request id. */
export type JsonRpcId = string | number;

/** One JSON-RPC request under way. */
export interface PendingOperation {
  id: JsonRpcId;
  method: string;
  /** The tool or prompt name of `tools/call` / `prompts/get`, else null. */
  name: string | null;
  /** Set from the response message, when one passes through a transport. */
  outcome: OperationOutcome | undefined;
}

/** One HTTP POST to `/mcp`: when it came, and its operations once its body is read. */
export interface HttpCall {
  t0: bigint;
  /** Undefined until the body is read (an answer before that is an operation of unknown method). */
  ops: PendingOperation[] | undefined;
  /** The first method of the body, request or notification (the connection's `lastMethod`). */
  method: string | undefined;
}

/** A new call, at arrival. */
export function arrive(): HttpCall {
  return { t0: process.hrtime.bigint(), ops: undefined, method: undefined };
}

function operationOf(m: unknown): PendingOperation | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const r = m as { id?: unknown; method?: unknown; params?: { name?: unknown } };
  if (typeof r.method !== 'string' || (typeof r.id !== 'string' && typeof r.id !== 'number')) return undefined;
  const named = r.method === 'tools/call' || r.method === 'prompts/get';
  const name = named && typeof r.params?.name === 'string' ? r.params.name : null;
  return { id: r.id, method: r.method, name, outcome: undefined };
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
      const op = operationOf(m);
      if (op) ops.push(op);
    }
    call.ops = ops;
    call.method = methodOf(body[0]);
    return;
  }
  const op = operationOf(body);
  call.ops = op ? [op] : [];
  call.method = methodOf(body);
}

/**
 * Records the operations of `call` when its response has closed: each with its own outcome, or
 * that of `status`. A call answered before its body was read (404, 413, 503) counts as one
 * operation of method `_OTHER` when it failed; a POST of notifications alone counts none.
 */
export function finish(call: HttpCall, status: number, recorder: OperationRecorder): void {
  const seconds = Number(process.hrtime.bigint() - call.t0) / 1e9;
  if (call.ops === undefined) {
    if (status >= 400) recorder.record('', null, seconds, outcomeOfStatus(status));
    return;
  }
  // Only a response message of the server makes a name known: a 2xx status alone shows nothing.
  for (const op of call.ops) recorder.record(op.method, op.name, seconds, op.outcome ?? outcomeOfStatus(status), op.outcome === 'ok');
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

/** The outcome of a response message (re-exported for the legs). */
export { outcomeOf };
