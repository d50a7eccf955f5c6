/**
 * What became of one request, as every endpoint judges it (the `outcome` and `errorCode` of a
 * {@link FinishedRequest}, docs/state-directory.md): from the server's JSON-RPC response when one passed,
 * else from the HTTP status of the answer the request got instead (ours: 404, 413, 503, …; or
 * the upstream's, when it answered with no JSON-RPC response).
 */
import { CALLER_FAULT_CODES } from '../../shared/operations.js';
import type { CallOutcome, FinishedRequest } from './finished-request.js';

/** The two fields of a {@link FinishedRequest} an answer decides. */
export type RequestOutcome = Pick<FinishedRequest, 'outcome' | 'errorCode'>;

// Both SDKs (v1 1.32, v2 2.4) answer bad tool arguments with an isError result whose text starts so
// (v2), or with the text of the protocol error they caught (v1: `MCP error -32602: Input validation
// error: …`, and `MCP error -32602: Tool <name> not found` for a tool it does not have, which v2
// answers as a JSON-RPC error): the caller's fault, like -32602 itself, not an error of the tool.
const INPUT_VALIDATION = 'Input validation error';
const WRAPPED_PROTOCOL_ERROR = /^MCP error (-?\d{1,6}): /;

/** Whether the text of an isError result tells of the caller's fault (see above). */
function callerFaultText(text: string): boolean {
  if (text.startsWith(INPUT_VALIDATION)) return true;
  const code = WRAPPED_PROTOCOL_ERROR.exec(text)?.[1];
  return code !== undefined && CALLER_FAULT_CODES.has(Number(code));
}

const OK: RequestOutcome = { outcome: 'ok', errorCode: null };

/**
 * Judges one request.
 * - `message`, the server's JSON-RPC response (undefined when none passed): a JSON-RPC error is
 *   `rejected` for the caller's faults ({@link CALLER_FAULT_CODES}), else `error`, with its code
 *   (null when the code is not an integer: the server's answer is hostile too); a result with
 *   `isError: true` is `tool_error`, or `rejected` when its text is an SDK's report of the caller's
 *   fault (invalid arguments, an unknown tool; errorCode null: the answer has none); any other
 *   result is `ok`.
 * - Else `status`, the HTTP status of the answer, and `code`, the JSON-RPC code of its body when
 *   known: 5xx `error`, 4xx `rejected` (refused before the server saw it), else `ok`.
 */
export function requestOutcome(message: unknown, status = 200, code: number | null = null): RequestOutcome {
  if (message !== undefined) {
    const m = message as { error?: { code?: unknown } | null; result?: { isError?: unknown; content?: unknown } | null };
    if (m.error !== undefined) {
      const c = m.error?.code;
      const errorCode = typeof c === 'number' && Number.isSafeInteger(c) ? c : null;
      return { outcome: errorCode !== null && CALLER_FAULT_CODES.has(errorCode) ? 'rejected' : 'error', errorCode };
    }
    if (m.result?.isError === true) {
      const first = Array.isArray(m.result.content) ? (m.result.content[0] as { text?: unknown } | undefined) : undefined;
      const invalid = typeof first?.text === 'string' && callerFaultText(first.text);
      return { outcome: invalid ? 'rejected' : 'tool_error', errorCode: null };
    }
    return OK;
  }
  const outcome: CallOutcome = status >= 500 ? 'error' : status >= 400 ? 'rejected' : 'ok';
  return outcome === 'ok' ? OK : { outcome, errorCode: code };
}
