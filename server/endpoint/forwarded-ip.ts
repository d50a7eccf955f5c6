/**
 * The client address of a request under `--trust-proxy` (see shared/settings.ts), by the rule of
 * Express's `trust proxy` (proxy-addr), for the endpoint that does not run on Express (the
 * `--upstream` proxy): the addresses from the socket back through `X-Forwarded-For`, right to left;
 * the client is the first one not trusted as a proxy. `n` hops: the first `n` are proxies.
 * `loopback`: every loopback address is a proxy. Off: the socket's address.
 */
import type http from 'node:http';
import { isIP } from 'node:net';
import type { TrustProxy } from '../../shared/settings.js';

/** 127.0.0.0/8, ::1 and their IPv4-mapped form. */
function isLoopback(addr: string): boolean {
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return addr === '::1';
}

/** The address the client is believed to have (not yet checked to be an IP: see `clientAddress`). */
export function forwardedIp(req: http.IncomingMessage, trust: TrustProxy): string | undefined {
  const socket = req.socket.remoteAddress;
  if (trust === false) return socket;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : header ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  // Nearest first: the socket, then the last entry of X-Forwarded-For, and so on.
  const chain = [socket ?? '', ...forwarded.reverse()];
  if (trust === 'loopback') {
    let i = 0;
    while (i < chain.length - 1 && isLoopback(chain[i]!)) i += 1;
    return chain[i];
  }
  return chain[Math.min(trust, chain.length - 1)];
}
