/**
 * Modern (2026-07-28) clients as connections. A modern client has no session: it
 * is known by what it says on every request. Its connection id is `m-` and the first 16 hex
 * digits of the SHA-256 of the UTF-8 JSON text of `[name, version, clientIP, userAgent]`, the
 * four values as the connection row stores them (bounded clientInfo name and version, the
 * stored IP, the bounded User-Agent or null): anyone can recompute it from the row.
 *
 * It connects at its first request, and stays while it sent one within `windowMs` or has one
 * open (a long SSE response, a `subscriptions/listen` stream); then it leaves with reason
 * `idle` and the duration from its first request to its last. Identities cost a client nothing
 * to invent, so at most `max` are listed, and at most `maxPerIp` from one client address (so
 * that identities invented from one address cannot fill the list); past either,
 * requests are still served, only not listed. Identical software (same name, version and
 * User-Agent) behind one address (loopback, a NAT, a reverse proxy) is one identity: one row.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { ClientInfo } from '../../shared/snapshot.js';
import { boundClientInfo, boundText, boundUserAgent } from './client-fields.js';
import { connectionRow } from './connection-row.js';
import { METHOD_MAX } from '../operations/operation-recorder.js';
import type { SessionRegistry } from './session-registry.js';

/** Where a modern request carries its client's `clientInfo` (`params._meta`; spec 2026-07-28). */
export const CLIENT_INFO_META_KEY = 'io.modelcontextprotocol/clientInfo';

/**
 * The modern protocol versions the v2 handler serves (SDK 2.4.0's SUPPORTED_MODERN_PROTOCOL_VERSIONS,
 * which it does not export; update with the SDK). A request with another version is refused
 * (-32022) and its client, which then retries with one of these or falls back to
 * `initialize`, is not listed for it.
 */
export const MODERN_PROTOCOL_VERSIONS: ReadonlySet<string> = new Set(['2026-07-28']);

/** Options of {@link ModernClients}. */
export interface ModernClientsOptions {
  registry: SessionRegistry;
  /** A client stays this long after its last request (`--client-window-ms`). */
  windowMs: number;
  /** Modern clients listed at once (the child's `--max-sessions`). */
  max: number;
  /** Modern clients listed at once from one client address. Default {@link modernClientsPerIp} of `max`. */
  maxPerIp?: number;
  logger: Logger;
  /** A monotonic clock in ms. Default `performance.now`. */
  clock?: () => number;
  /** How often quiet clients are looked for. Default a quarter of `windowMs`, within 20 ms-10 s. */
  sweepIntervalMs?: number;
}

/** The least per-address cap of listed modern clients. */
export const MIN_MODERN_CLIENTS_PER_IP = 16;

/**
 * The default per-address cap for `max` listed clients: a tenth, at least
 * {@link MIN_MODERN_CLIENTS_PER_IP} (every local client shares the loopback address).
 */
export function modernClientsPerIp(max: number): number {
  return Math.min(max, Math.max(MIN_MODERN_CLIENTS_PER_IP, Math.ceil(max / 10)));
}

/** One listed modern client. */
export interface ModernClient {
  readonly id: string;
  /** The client address it was listed from (its row's `clientIP`). */
  readonly ip: string;
  /** Its requests whose responses have not closed yet. */
  open: number;
  /** Monotonic ms of its first request, and of its last request's arrival or end. */
  readonly firstSeen: number;
  lastSeen: number;
}

/** What a modern request says about its client. */
export interface ModernArrival {
  body: unknown;
  clientIP: string;
  userAgent: string | undefined;
  protocolVersion: string | undefined;
  /** The first method of the body (bounded here). */
  method: string | undefined;
}

/** A warning about unlisted clients at most this often. */
const CAP_WARNING_EVERY_MS = 60_000;

/** The modern clients of one child: listed in the registry, ended when quiet (`start()`/`close()`). */
export class ModernClients {
  readonly #o: ModernClientsOptions;
  readonly #now: () => number;
  readonly #clients = new Map<string, ModernClient>();
  /** Listed clients of each client address. */
  readonly #perIp = new Map<string, number>();
  readonly #maxPerIp: number;
  #timer: NodeJS.Timeout | undefined;
  #unlisted = 0;
  #warnedAt = -Infinity;
  #closed = false;

  constructor(options: ModernClientsOptions) {
    this.#o = options;
    this.#now = options.clock ?? (() => performance.now());
    this.#maxPerIp = options.maxPerIp ?? modernClientsPerIp(options.max);
  }

  /** Modern clients listed now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Starts looking for quiet clients; twice throws, after close() does nothing. */
  start(): void {
    if (this.#timer) throw new Error('ModernClients already started');
    if (this.#closed) return;
    const every = this.#o.sweepIntervalMs ?? Math.min(Math.max(Math.floor(this.#o.windowMs / 4), 20), 10_000);
    this.#timer = setInterval(() => this.sweep(), every).unref();
  }

  /** Ends every listed client (reason `shutdown`) and lists no more. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const c of [...this.#clients.values()]) this.#end(c, 'shutdown');
  }

  /**
   * A modern request arrived: lists its client (or counts one more request of it) and holds it
   * open until {@link leave}. Undefined when the request names no client or a protocol version
   * not served (the SDK refuses both), or the client is past the cap.
   */
  arrive(a: ModernArrival): ModernClient | undefined {
    if (this.#closed || a.protocolVersion === undefined || !MODERN_PROTOCOL_VERSIONS.has(a.protocolVersion)) return undefined;
    const meta = (a.body as { params?: { _meta?: Record<string, unknown> } } | null)?.params?._meta;
    const info = typeof meta === 'object' && meta !== null ? boundClientInfo(meta[CLIENT_INFO_META_KEY]) : null;
    if (!info) return undefined;
    const userAgent = boundUserAgent(a.userAgent);
    const id = modernClientId(info, a.clientIP, userAgent);
    const method = a.method === undefined ? undefined : boundText(a.method, METHOD_MAX);
    const now = this.#now();
    const known = this.#clients.get(id);
    if (known) {
      known.open += 1;
      known.lastSeen = now;
      this.#o.registry.touch(id, method);
      return known;
    }
    const fromIp = this.#perIp.get(a.clientIP) ?? 0;
    if (this.#clients.size >= this.#o.max || fromIp >= this.#maxPerIp) {
      this.#unlisted += 1;
      if (now - this.#warnedAt >= CAP_WARNING_EVERY_MS) {
        this.#warnedAt = now;
        const full = this.#clients.size >= this.#o.max;
        this.#o.logger.warn(
          full ? { max: this.#o.max, unlisted: this.#unlisted } : { maxPerIp: this.#maxPerIp, unlisted: this.#unlisted },
          full ? 'modern client limit reached; further clients are served but not listed' : 'modern client limit of one address reached; its further clients are served but not listed',
        );
        this.#unlisted = 0;
      }
      return undefined;
    }
    const client: ModernClient = { id, ip: a.clientIP, open: 1, firstSeen: now, lastSeen: now };
    const listed = this.#o.registry.add(connectionRow({ sessionId: id, clientIP: a.clientIP, userAgent: a.userAgent, clientInfo: info, protocolVersion: a.protocolVersion, era: 'modern', method }));
    // The id is taken by a row of another kind (a proxied session that someone named `m-…`):
    // served, not listed.
    if (!listed) return undefined;
    this.#clients.set(id, client);
    this.#perIp.set(a.clientIP, fromIp + 1);
    return client;
  }

  /** The response of a request of `client` has closed. */
  leave(client: ModernClient): void {
    client.open -= 1;
    client.lastSeen = this.#now();
  }

  /** Ends the clients with nothing open and no request within the window (reason `idle`). */
  sweep(): void {
    const cutoff = this.#now() - this.#o.windowMs;
    for (const c of this.#clients.values()) {
      if (c.open <= 0 && c.lastSeen <= cutoff) this.#end(c, 'idle');
    }
  }

  #end(c: ModernClient, reason: 'idle' | 'shutdown'): void {
    this.#clients.delete(c.id);
    const left = (this.#perIp.get(c.ip) ?? 1) - 1;
    if (left <= 0) this.#perIp.delete(c.ip);
    else this.#perIp.set(c.ip, left);
    this.#o.registry.remove(c.id, reason, new Date(), c.lastSeen - c.firstSeen);
  }
}

/** The connection id of a modern client (see the file comment for the exact input). */
export function modernClientId(info: ClientInfo, clientIP: string, userAgent: string | null): string {
  const text = JSON.stringify([info.name, info.version, clientIP, userAgent]);
  return `m-${createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16)}`;
}
