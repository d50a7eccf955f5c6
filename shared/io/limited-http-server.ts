/**
 * An HTTP server that a slow or half-sent request cannot hold for ever: the API and
 * the MCP child both make theirs here, each with its own numbers. The timeouts cover *receiving*
 * a request only (Node's `headersTimeout`/`requestTimeout`): responses that stay open on purpose
 * (SSE, socket.io long-polling, MCP streams) are never timed.
 */
import http from 'node:http';

/** What {@link createLimitedHttpServer} enforces. */
export interface HttpServerLimits {
  /** All request headers must arrive within this long; then 408 and the socket is closed. */
  headersTimeoutMs: number;
  /** The whole request, headers and body, within this long (at least `headersTimeoutMs`). */
  requestTimeoutMs: number;
  /** An idle keep-alive socket is closed after this long. */
  keepAliveTimeoutMs: number;
  /** How often Node checks the two request timeouts (its default, 30 s, lets a slow request live that much longer). */
  checkIntervalMs: number;
  /** Sockets open at once; past it Node closes new ones at once (the server emits `drop`). */
  maxConnections: number;
  /**
   * Sockets open at once from one remote address; past it a new one is closed at once (the
   * server emits `drop-ip` with the address). Default none. Every local client shares the
   * loopback address, and every client behind a reverse proxy shares the proxy's.
   */
  maxConnectionsPerIp?: number;
}

/** Closes a socket past `max` from its remote address; counts each address's open sockets. */
function capPerIp(server: http.Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const ip = socket.remoteAddress ?? '';
    const n = open.get(ip) ?? 0;
    if (n >= max) {
      socket.destroy();
      server.emit('drop-ip', ip);
      return;
    }
    open.set(ip, n + 1);
    socket.once('close', () => {
      const left = (open.get(ip) ?? 1) - 1;
      if (left <= 0) open.delete(ip);
      else open.set(ip, left);
    });
  });
}

/** An HTTP server for `handler` with `limits` applied; the caller listens. */
export function createLimitedHttpServer(handler: http.RequestListener, limits: HttpServerLimits): http.Server {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError(`headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})`);
  }
  const server = http.createServer(
    { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs, connectionsCheckingInterval: limits.checkIntervalMs },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  if (limits.maxConnectionsPerIp !== undefined) capPerIp(server, limits.maxConnectionsPerIp);
  return server;
}
