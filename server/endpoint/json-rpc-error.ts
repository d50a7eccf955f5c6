/**
 * Errors of the MCP endpoint in the shape the SDK's transport uses for HTTP-level failures:
 * a JSON-RPC error object with `id: null` and a fitting HTTP status.
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import { refuseBody } from './read-body.js';

// The code each response was answered with here, for the outcome of its request (a
// FinishedRequest's `errorCode`, server/operations/operation-tap.ts). Keyed by the response
// object, so an entry lives exactly as long as its response: no state outlives a request.
const answeredCodes = new WeakMap<http.ServerResponse, number>();

/** Answers `status` with `{"jsonrpc":"2.0","error":{code,message},"id":null}`, unless headers went out already. */
export function jsonRpcError(res: http.ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent || res.destroyed) return;
  answeredCodes.set(res, code);
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The JSON-RPC code {@link jsonRpcError} answered `res` with; null when it did not answer it. */
export function answeredCode(res: http.ServerResponse): number | null {
  return answeredCodes.get(res) ?? null;
}

/**
 * Answers a body that could not be read (an error of express's body-parser): not JSON 400
 * (-32700), over its limit 413, a charset or encoding it cannot read 415, another client fault
 * its 4xx; anything else is logged and gets its status or 500 (-32603).
 */
export function answerReadError(err: Error & { status?: number; type?: string }, res: http.ServerResponse, log: Logger): void {
  if (err.type === 'entity.parse.failed') return jsonRpcError(res, 400, -32700, 'Parse error: the body is not JSON');
  // The rest of an oversized body is never read: the connection closes with the answer.
  if (err.type === 'entity.too.large') return refuseBody(res, (r) => jsonRpcError(r, 413, -32000, 'Request body too large'));
  // The client's fault (a charset or Content-Encoding we do not read, a body that does not
  // inflate): its status and a fixed message, and no error in the operator's log.
  if (err.type === 'charset.unsupported' || err.type === 'encoding.unsupported') {
    log.debug({ err: err.message }, 'MCP request refused');
    return jsonRpcError(res, 415, -32000, 'Unsupported Media Type: use UTF-8 JSON, identity, gzip, deflate or br');
  }
  if (err.status !== undefined && err.status >= 400 && err.status < 500) {
    log.debug({ err: err.message, status: err.status }, 'MCP request refused');
    return jsonRpcError(res, err.status, -32700, 'Parse error: the body could not be read');
  }
  log.error({ err }, 'MCP request failed');
  jsonRpcError(res, err.status ?? 500, -32603, 'Internal error');
}
