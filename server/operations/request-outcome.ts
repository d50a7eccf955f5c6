/**
 * What became of one request, as every endpoint judges it (the `outcome` and `errorCode` of a
 * {@link FinishedRequest}, CONTRACT §11): from the server's JSON-RPC response when one passed,
 * else from the HTTP status of the answer the request got instead (ours: 404, 413, 503, …; or
 * the upstream's, when it answered with no JSON-RPC response).
 */
import { CALLER_FAULT_CODES } from '../../shared/operations.js';
import type { CallOutcome, FinishedRequest } from './finished-request.js';

/** The two fields of a {@link FinishedRequest} an answer decides. */
export type RequestOutcome = Pick<FinishedRequest, 'outcome' | 'errorCode'>;

// Both SDKs (v1 1.32, v2 2.4) answer bad tool arguments with an isError result whose text starts so:
// the caller's fault, like -32602 (Invalid params), not an error of the tool.
const INPUT_VALIDATION = 'Input validation error';

const OK: RequestOutcome = { outcome: 'ok', errorCode: null };

/**
 * Judges one request.
 * - `message`, the server's JSON-RPC response (undefined when none passed): a JSON-RPC error is
 *   `rejected` for the caller's faults ({@link CALLER_FAULT_CODES}), else `error`, with its code
 *   (null when the code is not an integer: the server's answer is hostile too); a result with
 *   `isError: true` is `tool_error`, or `rejected` when it reports invalid arguments; any other
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
      const invalid = typeof first?.text === 'string' && first.text.startsWith(INPUT_VALIDATION);
      return { outcome: invalid ? 'rejected' : 'tool_error', errorCode: null };
    }
    return OK;
  }
  const outcome: CallOutcome = status >= 500 ? 'error' : status >= 400 ? 'rejected' : 'ok';
  return outcome === 'ok' ? OK : { outcome, errorCode: code };
}
