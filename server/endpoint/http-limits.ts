/**
 * Limits of the child's HTTP server, so that a client cannot hold sockets or session slots for ever
 * with a slow or half-sent request, nor make the child read megabytes before it has a session, nor
 * make it buffer more than a fixed budget of request bytes, nor hold most of its sockets from one
 * address. A response is never timed: SSE streams stay open as long as their session does.
 */
import type { HttpServerLimits } from '../../shared/io/limited-http-server.js';

/** Largest body of a POST without `Mcp-Session-Id` (an `initialize`): 64 KiB. Larger: 413. */
export const INITIALIZE_BODY_LIMIT = 64 * 1024;
/** Largest body of a request of an existing session: 4 MiB (the SDK's own default). Larger: 413. */
export const SESSION_BODY_LIMIT = 4 * 1024 * 1024;
/** Time to receive a request's headers (Node `server.headersTimeout`); then 408 and the socket is closed. */
export const HEADERS_TIMEOUT_MS = 10_000;
/**
 * Time to receive a whole request, headers and body (Node `server.requestTimeout`); then 408
 * and the socket is closed. It ends when the request is read: responses, SSE streams
 * included, are not limited. 60 s lets a 4 MiB body come at ~70 KiB/s.
 */
export const REQUEST_TIMEOUT_MS = 60_000;
/** An idle keep-alive socket is closed after this long (Node `server.keepAliveTimeout`). */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** How often Node checks the two timeouts above (`connectionsCheckingInterval`; Node's default is 30 s). */
export const CONNECTIONS_CHECK_MS = 1_000;
/** Sockets allowed per session in `maxConnections`: a GET stream and a few requests in parallel. */
export const CONNECTIONS_PER_SESSION = 4;
/** `maxConnections` is never below this, whatever `--max-sessions` is. */
export const MIN_MAX_CONNECTIONS = 256;
/**
 * Request bytes the child buffers at once, all requests together: past it a
 * request gets 503 with `Retry-After` before its body is read. 16 session-sized bodies.
 */
export const BUFFERED_BODY_BUDGET = 64 * 1024 * 1024;
/**
 * The share of `maxConnections` one client address may hold. Every local client comes from
 * the same loopback address, and every client behind a reverse proxy from the proxy's, so this
 * is a fraction rather than a small number: one address cannot take every socket, and the
 * clients that share one still have half of them.
 */
export const CONNECTIONS_PER_IP_SHARE = 0.5;

/** The limits of one server; each defaults to the constant of the same name above. */
export interface HttpLimits extends HttpServerLimits {
  /** Default {@link INITIALIZE_BODY_LIMIT}. */
  initializeBodyBytes: number;
  /** Default {@link SESSION_BODY_LIMIT}. */
  sessionBodyBytes: number;
  /** Default {@link BUFFERED_BODY_BUDGET}. */
  bufferedBodyBytes: number;
}

/** `maxConnections` for a child holding up to `maxSessions` sessions. */
export function maxConnectionsFor(maxSessions: number): number {
  return Math.max(MIN_MAX_CONNECTIONS, maxSessions * CONNECTIONS_PER_SESSION);
}

/** Sockets one client address may hold when `maxConnections` are allowed in all. */
export function connectionsPerIpFor(maxConnections: number): number {
  return Math.max(1, Math.ceil(maxConnections * CONNECTIONS_PER_IP_SHARE));
}

/** The limits for `maxSessions`, with `overrides` (tests use small ones; the per-address cap follows `maxSessions`, not an overridden `maxConnections`). */
export function httpLimits(maxSessions: number, overrides: Partial<HttpLimits> = {}): HttpLimits {
  const maxConnections = maxConnectionsFor(maxSessions);
  return {
    initializeBodyBytes: INITIALIZE_BODY_LIMIT,
    sessionBodyBytes: SESSION_BODY_LIMIT,
    bufferedBodyBytes: BUFFERED_BODY_BUDGET,
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    checkIntervalMs: CONNECTIONS_CHECK_MS,
    maxConnections,
    maxConnectionsPerIp: connectionsPerIpFor(maxConnections),
    ...overrides,
  };
}
