/**
 * The API's HTTP server with limits on what a client may hold (see shared/io/limited-http-server.ts):
 * a client that sends its request slowly, or not at all, is cut off, and the number of open
 * connections is capped. The timeouts cover *receiving* a request only (Node's
 * `requestTimeout`/`headersTimeout`), so responses that stay open on purpose (SSE, socket.io
 * long-polling) are not affected.
 */
import type http from 'node:http';
import { createLimitedHttpServer, type HttpServerLimits } from '../shared/io/limited-http-server.js';

/** All request headers must arrive within this long (Node's default is 60 s). */
export const HEADERS_TIMEOUT_MS = 10_000;
/** The whole request (headers and body; the API takes no big bodies) within this long (default 300 s). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive connection is closed after this long (Node's default, named). */
export const KEEP_ALIVE_TIMEOUT_MS = 5000;
/**
 * Open connections at once; past it Node closes new ones at once. Above the SSE and socket.io
 * caps together (1000 each, `MAX_SSE_CLIENTS`, `MAX_MONITORING_CLIENTS`), with room for REST
 * calls, probes and scrapes.
 */
export const MAX_CONNECTIONS = 2500;
/** How often Node checks the two request timeouts (its default, 30 s, would let a slow request live 40 s). */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

/** Limits of {@link createApiServer}, each defaulting to the constant of its name. */
export type ApiServerLimits = Partial<HttpServerLimits>;

/** An HTTP server for `handler` (the Express app) with the limits above; the caller listens. */
export function createApiServer(handler: http.RequestListener, limits: ApiServerLimits = {}): http.Server {
  const requestTimeoutMs = limits.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  return createLimitedHttpServer(handler, {
    // Node requires headersTimeout <= requestTimeout.
    headersTimeoutMs: Math.min(limits.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeoutMs),
    requestTimeoutMs,
    keepAliveTimeoutMs: limits.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS,
    checkIntervalMs: limits.checkIntervalMs ?? CONNECTIONS_CHECKING_INTERVAL_MS,
    maxConnections: limits.maxConnections ?? MAX_CONNECTIONS,
  });
}
