/**
 * The options of an `Upstream` (server/backends/upstream/upstream.ts) and their defaults: the timeouts
 * and socket counts of the child's connections to its upstream.
 */
import type { TrustProxy } from '../../../shared/settings.js';

/** How long a connection to the upstream may take, TLS handshake included. */
export const CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long the upstream may take to send a response's head once asked (queued for a socket,
 * connecting and sending included). Then the client gets 504. A stream whose head has come is
 * never timed: SSE stays open as long as the upstream keeps it.
 */
export const RESPONSE_HEAD_TIMEOUT_MS = 60_000;
/**
 * An idle kept-alive connection is closed after this long: below Node's default server
 * `keepAliveTimeout` (5 s), so that we close it before the upstream does, not while a request is
 * going out on it (that request could then not be sent again: see `Upstream.forward` in upstream.ts).
 */
export const IDLE_SOCKET_MS = 4_000;
/** Sockets to the upstream beyond the ones of clients' exchanges: probes and DELETEs. */
export const UPSTREAM_SPARE_SOCKETS = 8;

/** Options of an `Upstream` (upstream.ts); tests use small timeouts. */
export interface UpstreamOptions {
  /**
   * Connections to the upstream at once; more exchanges wait for one (within the response head
   * timeout). Give the child's `maxConnections` (each exchange comes on one) plus
   * {@link UPSTREAM_SPARE_SOCKETS}. Default 256 + that.
   */
  maxSockets?: number;
  /**
   * `--trust-proxy`: when set, the client's `X-Forwarded-For` is believed and extended; when
   * off (default), it is replaced by the socket's address (a client could forge it otherwise).
   */
  trustProxy?: TrustProxy;
  /** Default {@link CONNECT_TIMEOUT_MS}. */
  connectTimeoutMs?: number;
  /** Default {@link RESPONSE_HEAD_TIMEOUT_MS}. */
  responseHeadTimeoutMs?: number;
}
