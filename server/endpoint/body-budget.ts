/**
 * What a request body may cost before it is read:
 * its own limit (64 KiB without a session the child holds, 4 MiB with one), and a share of one
 * budget of buffered request bytes for the whole child, so that many senders that stall just
 * under their limit cannot together exhaust its memory. The hosted and the proxy endpoints both
 * check here, before any byte of the body is read.
 */
import type http from 'node:http';
import { jsonRpcError } from './json-rpc-error.js';
import { refuseBody } from './read-body.js';

/** Seconds a request refused for the budget is told to wait. */
export const BUDGET_RETRY_AFTER_SECONDS = 2;

/**
 * Bytes of request bodies being read now, against a fixed total. A request holds what it may
 * buffer (its declared `Content-Length`, or its whole limit when chunked) from its headers
 * until its body has ended or the request is gone (finished, aborted, its socket closed).
 */
export class BodyBudget {
  #used = 0;

  constructor(readonly limit: number) {}

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Holds `bytes` for the body of `req`, released once when it ends or goes; false (nothing held) when it would pass the total. */
  hold(req: http.IncomingMessage, bytes: number): boolean {
    if (bytes === 0) return true;
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#used -= bytes;
      req.off('end', release);
      req.off('close', release);
    };
    req.once('end', release);
    req.once('close', release);
    return true;
  }
}

/** The declared `Content-Length`, NaN when there is none or it is not a plain number (Node has refused a malformed one already). */
function declaredLength(req: http.IncomingMessage): number {
  const v = req.headers['content-length'];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : NaN;
}

/** What the body of `req` may make the child buffer, at most `limit`: its declared length, the limit when chunked, 0 when it has none. */
function bytesToHold(req: http.IncomingMessage, limit: number): number {
  const declared = declaredLength(req);
  if (!Number.isNaN(declared)) return Math.min(declared, limit);
  return req.headers['transfer-encoding'] !== undefined ? limit : 0;
}

/**
 * Lets the body of `req` be read under `limit`, or answers it and closes the connection
 * without reading the body: 413 when its declared length is over the limit, 503 with
 * `Retry-After` when its share would pass the child's budget. True when it may be read.
 * (A body that passes the limit while it is read gets its 413 from the reader.)
 */
export function admitBody(req: http.IncomingMessage, res: http.ServerResponse, limit: number, budget: BodyBudget): boolean {
  if (declaredLength(req) > limit) {
    refuseBody(res, (r) => jsonRpcError(r, 413, -32000, 'Request body too large'));
    return false;
  }
  if (budget.hold(req, bytesToHold(req, limit))) return true;
  refuseBody(res, (r) => {
    r.setHeader('Retry-After', String(BUDGET_RETRY_AFTER_SECONDS));
    jsonRpcError(r, 503, -32000, 'Server busy reading other requests; retry later');
  });
  return false;
}

/**
 * Answers 413 and closes the connection as soon as the body of `req` passes `limit` while it
 * is read, for a reader that would otherwise read the rest before it answers (express's
 * body-parser does). Attach it just before the reader, in the same tick.
 */
export function cutOffPast(req: http.IncomingMessage, res: http.ServerResponse, limit: number): void {
  let size = 0;
  const count = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) return;
    req.off('data', count);
    req.pause();
    refuseBody(res, (r) => jsonRpcError(r, 413, -32000, 'Request body too large'));
  };
  req.on('data', count);
  req.once('end', () => req.off('data', count));
}
