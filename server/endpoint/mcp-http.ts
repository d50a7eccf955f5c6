/**
 * The HTTP side every MCP endpoint of the child shares, whatever serves it (a hosted server,
 * or the `--upstream` proxy): the Host check and the era hints the front door uses
 * (front-door.ts), listening with the limits of `shared/io/limited-http-server.ts`, and closing
 * without cutting answers short.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { allowedHostNames, isAnyAddress, isHostAllowed, urlHostName } from '../../shared/host-check.js';
import { createLimitedHttpServer } from '../../shared/io/limited-http-server.js';
import type { McpEndpoint } from '../../shared/snapshot.js';
import type { HttpLimits } from './http-limits.js';
import { jsonRpcError } from './json-rpc-error.js';
import { MODERN_PROTOCOL_VERSIONS } from '../sessions/modern-clients.js';

/** The path of the MCP endpoint. */
export const MCP_ENDPOINT = '/mcp';

const LEGACY_VERSIONS: ReadonlySet<string> = new Set(SUPPORTED_PROTOCOL_VERSIONS);

/**
 * A POST without a session id that announces a protocol version newer than the legacy ones
 * looks modern: it takes no session slot before its body is read (a full legacy-only backend
 * must still answer a modern probe 400, so that the client falls back, not 503). Its body
 * limit is {@link servedModern}'s to decide. Only a hint: the body decides the era.
 */
export function looksModern(req: http.IncomingMessage): boolean {
  const v = req.headers['mcp-protocol-version'];
  return typeof v === 'string' && !LEGACY_VERSIONS.has(v) && typeof req.headers['mcp-session-id'] !== 'string';
}

/**
 * A POST without a session id that announces a modern protocol version the backend serves
 * (spec 2026-07-28: every request carries `MCP-Protocol-Version`) may have a session-sized
 * body. Any other version, a newer one included, gets the 64 KiB of an `initialize`: a client
 * must not make the child read megabytes by announcing a version it does not serve.
 * @param servesModern whether the backend serves the modern era at all (an SDK v1 one does not)
 */
export function servedModern(req: http.IncomingMessage, servesModern: boolean): boolean {
  const v = req.headers['mcp-protocol-version'];
  return servesModern && typeof v === 'string' && MODERN_PROTOCOL_VERSIONS.has(v) && typeof req.headers['mcp-session-id'] !== 'string';
}

/** The host of the published URL: a wildcard bind address is reached through loopback. */
function urlHost(host: string): string {
  if (isAnyAddress(host)) return host === '0.0.0.0' ? '127.0.0.1' : '[::1]';
  return urlHostName(host);
}

/** A check of a request that calls `next()` or answers it. */
export type RequestCheck = (req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => void;

/**
 * DNS-rebinding protection (the attack of the security warning in
 * https://modelcontextprotocol.io/specification/2025-11-25/basic/transports): the loopback names,
 * the bind address (an IPv6 one in brackets, as it comes in `Host`) and `allowedHosts`; anything
 * else gets 403. Undefined (and a warning) when bound to every interface with no `allowedHosts`:
 * then nothing can be checked.
 */
export function mcpHostCheck(host: string, allowedHosts: readonly string[] | undefined, log: Logger): RequestCheck | undefined {
  const allowed = allowedHostNames(host, allowedHosts);
  if (allowed === null) {
    log.warn({ host }, 'MCP endpoint bound to all interfaces without Host header validation (set --allowed-hosts)');
    return undefined;
  }
  return (req, res, next) => (isHostAllowed(req.headers.host, allowed) ? next() : jsonRpcError(res, 403, -32000, 'Invalid Host header'));
}

/** Serves `app` (the front door's request listener) on `host:port` with `limits`; resolves with the server and the endpoint (the real port when 0 was asked). */
export async function listenMcp(app: http.RequestListener, host: string, port: number, limits: HttpLimits, log: Logger): Promise<{ server: http.Server; endpoint: McpEndpoint }> {
  const server = createLimitedHttpServer(app, limits);
  let dropped = 0;
  server.on('drop', () => {
    dropped += 1;
    // A flood would flood the log too: the first, then every 100th.
    if (dropped === 1 || dropped % 100 === 0) log.warn({ maxConnections: server.maxConnections, dropped }, 'connection limit reached; new connections closed');
  });
  let droppedIp = 0;
  server.on('drop-ip', (ip: string) => {
    droppedIp += 1;
    if (droppedIp === 1 || droppedIp % 100 === 0) log.warn({ maxConnectionsPerIp: limits.maxConnectionsPerIp, ip, dropped: droppedIp }, 'connection limit of one address reached; its new connections closed');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: real } = server.address() as AddressInfo;
  return { server, endpoint: { url: `http://${urlHost(host)}:${real}${MCP_ENDPOINT}`, endpoint: MCP_ENDPOINT, port: real } };
}

/**
 * Closes `server` once `endAll` has ended every session: sockets are closed as their last
 * responses end; what is left (a half-sent request, a stream a vanished client never read to
 * its end) gets a short grace, then its socket is cut.
 */
export async function closeMcp(server: http.Server | undefined, endAll: () => Promise<void>): Promise<void> {
  const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
  await endAll();
  const sweep = setInterval(() => server?.closeIdleConnections(), 20);
  const grace = setTimeout(() => server?.closeAllConnections(), 250).unref();
  server?.closeIdleConnections();
  await closed;
  clearInterval(sweep);
  clearTimeout(grace);
}
