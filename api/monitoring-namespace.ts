/**
 * socket.io namespace `/monitoring`, for the client snippet users already
 * have:
 *
 * ```js
 * const socket = io('http://localhost:3001/monitoring');
 * socket.emit('subscribe_mcp_connections', { serverId: 'default' }, (ack) => …);
 * socket.on('mcp_connections_data', (data) => …);
 * ```
 *
 * One room per server id. A subscriber gets `mcp_connections_data` (`{timestamp, ...stats}`,
 * stats as `GET /api/mcp/connections` returns them) at once, on every new snapshot of its
 * server, and when the server turns stale or fresh again without a new snapshot (a hung or
 * dead writer writes nothing). A socket that has not subscribed gets nothing.
 *
 * Slow clients never hold the API back: every message is the full current state, so nothing
 * is queued for a client whose transport is still busy with the previous one; it is marked
 * and gets the latest state once it can take it (conflation). At most one message per server
 * waits per client, and a client that vanished is dropped by socket.io's ping timeout.
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import { Server, type Namespace, type Socket } from 'socket.io';
import { SERVER_ID_RE } from '../shared/paths.js';
import { bearerMatches } from './auth.js';
import { forbiddenHostMessage, requestHostAllowed } from './host-check.js';
import { connectionStats, type ServerCatalog, type ServerView } from './server-catalog.js';

/** The namespace of the users' snippet: `io('http://localhost:3001/monitoring')`. */
export const MONITORING_NAMESPACE = '/monitoring';
/** The room of a server's subscribers: `mcp_connections_<serverId>`, the name the first dashboard gave it. */
export function roomOf(serverId: string): string {
  return `mcp_connections_${serverId}`;
}

/** Client → server: `{serverId?}` and an ack callback. */
export const SUBSCRIBE_EVENT = 'subscribe_mcp_connections';
export const UNSUBSCRIBE_EVENT = 'unsubscribe_mcp_connections';
/** Server → client: `{timestamp, ...stats}`. */
export const DATA_EVENT = 'mcp_connections_data';
/** Sent instead of an ack when a subscribe without an ack callback fails. */
export const ERROR_EVENT = 'mcp_connections_error';
/**
 * Default cap on sockets connected to `/monitoring` at once: each one is sent the
 * full state of its servers on every change, so their number bounds the API's fan-out work.
 */
export const MAX_MONITORING_CLIENTS = 1000;

export interface MonitoringNamespaceOptions {
  /** The API's HTTP server; socket.io attaches to it (path `/socket.io/`). */
  server: http.Server;
  catalog: ServerCatalog;
  logger: Logger;
  /** When set, a socket must present it (`auth: {token}` or `Authorization: Bearer`). */
  token?: string | undefined;
  /**
   * Host names accepted in the handshake's `Host` header (as for the Express app, see
   * `api/host-check.ts`); `null` checks nothing.
   */
  allowedHosts: ReadonlySet<string> | null;
  /** Sockets on `/monitoring` at once; past it a connection is refused (`too_many_clients`). Default {@link MAX_MONITORING_CLIENTS}. */
  maxClients?: number;
  /** How often subscribed servers are checked for turning stale or fresh. Default 1000. */
  checkMs?: number;
  /** How often a client that was busy is retried with the latest state. Default 100. */
  retryMs?: number;
}

interface Ack {
  status: 'subscribed' | 'unsubscribed' | 'error';
  [k: string]: unknown;
}

type AckFn = (ack: Ack) => void;

function errorAck(code: string, message: string): Ack {
  return { status: 'error', error: { code, message }, timestamp: new Date().toISOString() };
}

/** An error a namespace middleware refuses a socket with; the client sees it in `connect_error`. */
function refusal(code: string, message: string): Error {
  return Object.assign(new Error(code), { data: { code, message } });
}

/**
 * The `/monitoring` namespace on the API's HTTP server: `start()` attaches socket.io, call
 * {@link MonitoringNamespace.broadcast} on every new snapshot, `close()` disconnects everyone.
 */
export class MonitoringNamespace {
  readonly #o: Required<Omit<MonitoringNamespaceOptions, 'token'>> & { token: string | undefined };
  readonly #log: Logger;
  #io: Server | undefined;
  #nsp: Namespace | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Socket id → servers whose latest state it still has to get. */
  readonly #pending = new Map<string, Set<string>>();
  /** Server id → what subscribers last saw of its freshness. */
  readonly #lastSeen = new Map<string, string>();
  #closePromise: Promise<void> | undefined;

  constructor(options: MonitoringNamespaceOptions) {
    this.#o = { checkMs: 1000, retryMs: 100, ...options, maxClients: options.maxClients ?? MAX_MONITORING_CLIENTS, token: options.token };
    this.#log = options.logger;
  }

  /** Sockets connected to `/monitoring` (subscribed or not). */
  get size(): number {
    return this.#nsp?.sockets.size ?? 0;
  }

  /** Attaches socket.io to the HTTP server and starts the freshness check. */
  async start(): Promise<void> {
    if (this.#io) throw new Error('MonitoringNamespace already started');
    if (this.#closePromise) throw new Error('MonitoringNamespace is closed');
    const { token, allowedHosts } = this.#o;
    const io = new Server(this.#o.server, {
      // Clients only ever send small subscribe messages.
      maxHttpBufferSize: 64 * 1024,
      // With a token, the token is the protection and any page may use it (it is no cookie).
      ...(token ? { cors: { origin: true } } : {}),
      // Every handshake (polling and WebSocket) passes the Host check first: a page that rebinds
      // its own name to this address sends `Origin` and `Host` both of its own name, so the
      // origin check alone does not stop it.
      allowRequest: (req, callback) => {
        if (!requestHostAllowed(req, allowedHosts)) return callback(forbiddenHostMessage(req.headers.host), false);
        if (token) return callback(null, true);
        sameOriginOnly(req, callback);
      },
    });
    const nsp = io.of(MONITORING_NAMESPACE);
    if (token) {
      const check = (socket: Socket, next: (err?: Error) => void) => this.#authorize(socket, token, next);
      io.use(check);
      nsp.use(check);
    }
    nsp.use((_socket, next) => {
      // Counted after the token check, so that a stranger learns nothing of the load.
      if (nsp.sockets.size < this.#o.maxClients) return next();
      this.#log.warn({ maxClients: this.#o.maxClients }, 'socket.io client refused: too many clients');
      next(refusal('too_many_clients', `Too many monitoring clients (at most ${this.#o.maxClients}); try again later`));
    });
    nsp.on('connection', (socket) => this.#onConnection(socket));
    this.#io = io;
    this.#nsp = nsp;
    this.#checkTimer = setInterval(() => this.#checkFreshness(), this.#o.checkMs).unref();
  }

  /** Sends the current state of `serverId` to its subscribers (call on every new snapshot). */
  broadcast(serverId: string): void {
    const nsp = this.#nsp;
    const members = nsp?.adapter.rooms.get(roomOf(serverId));
    if (!nsp || !members?.size) return;
    const view = this.#o.catalog.view(serverId);
    const stats = view && connectionStats(view);
    if (!view || !stats) return;
    this.#lastSeen.set(serverId, freshness(view));
    const busy: string[] = [];
    for (const id of members) {
      const socket = nsp.sockets.get(id);
      if (socket && !socket.conn.transport.writable) {
        busy.push(id);
        this.#markPending(id, serverId);
      }
    }
    // One encoding for the whole room; busy clients get the then-latest state later.
    nsp.to(roomOf(serverId)).except(busy).emit(DATA_EVENT, { timestamp: new Date().toISOString(), ...stats });
  }

  /** Disconnects every client and stops accepting new ones. The HTTP server stays the caller's. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      clearInterval(this.#checkTimer);
      clearInterval(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#pending.clear();
      const io = this.#io;
      if (!io) return;
      // Not io.close(): that would close the HTTP server, which main.ts owns and closes itself.
      this.#nsp?.disconnectSockets(true);
      io.disconnectSockets(true);
      io.engine.close();
    })();
    return this.#closePromise;
  }

  #authorize(socket: Socket, token: string, next: (err?: Error) => void): void {
    const given: unknown = socket.handshake.auth?.token;
    const fromAuth = typeof given === 'string' && given !== '' ? (/^bearer\s/i.test(given) ? given : `Bearer ${given}`) : undefined;
    if (bearerMatches(fromAuth, token) || bearerMatches(socket.handshake.headers.authorization, token)) return next();
    const presented = fromAuth !== undefined || socket.handshake.headers.authorization !== undefined;
    this.#log.debug({ nsp: socket.nsp.name, presented }, 'socket.io client refused: token');
    next(refusal('unauthorized', presented ? 'Wrong token' : 'Missing token: connect with auth: {token}'));
  }

  #onConnection(socket: Socket): void {
    this.#log.debug({ socket: socket.id }, 'monitoring client connected');
    socket.on(SUBSCRIBE_EVENT, (...args: unknown[]) => this.#subscribe(socket, args));
    socket.on(UNSUBSCRIBE_EVENT, (...args: unknown[]) => this.#unsubscribe(socket, args));
    socket.on('disconnect', (reason) => {
      this.#pending.delete(socket.id);
      this.#log.debug({ socket: socket.id, reason }, 'monitoring client disconnected');
    });
  }

  /** `{serverId?}`, a bare server id string, or nothing; an ack callback last, if any. */
  #parse(socket: Socket, args: unknown[]): { serverId: string; ack: AckFn | undefined } | undefined {
    const ack = typeof args.at(-1) === 'function' ? (args.pop() as AckFn) : undefined;
    const data = args[0];
    const requested = typeof data === 'string' ? data : typeof data === 'object' && data !== null ? (data as { serverId?: unknown }).serverId : undefined;
    const serverId = requested === undefined || requested === null || requested === '' ? this.#o.catalog.defaultServerId : requested;
    if (typeof serverId !== 'string' || !SERVER_ID_RE.test(serverId)) {
      this.#reply(socket, ack, errorAck('bad_server_id', `Invalid serverId ${JSON.stringify(serverId)} (expected [A-Za-z0-9_-]{1,64})`));
      return undefined;
    }
    return { serverId, ack };
  }

  #subscribe(socket: Socket, args: unknown[]): void {
    const req = this.#parse(socket, args);
    if (!req) return;
    const { serverId, ack } = req;
    const view = this.#o.catalog.view(serverId);
    if (!view) {
      this.#reply(socket, ack, errorAck('unknown_server', `No server "${serverId}" (not spawned by this API, not in the state directory)`));
      return;
    }
    void socket.join(roomOf(serverId));
    this.#reply(socket, ack, { status: 'subscribed', room: roomOf(serverId), serverId, timestamp: new Date().toISOString() });
    // At once: no waiting for the next snapshot (none comes while the writer is hung).
    const stats = connectionStats(view);
    if (stats) socket.emit(DATA_EVENT, { timestamp: new Date().toISOString(), ...stats });
  }

  #unsubscribe(socket: Socket, args: unknown[]): void {
    const req = this.#parse(socket, args);
    if (!req) return;
    void socket.leave(roomOf(req.serverId));
    this.#pending.get(socket.id)?.delete(req.serverId);
    this.#reply(socket, req.ack, { status: 'unsubscribed', room: roomOf(req.serverId), serverId: req.serverId, timestamp: new Date().toISOString() });
  }

  #reply(socket: Socket, ack: AckFn | undefined, body: Ack): void {
    if (ack) ack(body);
    else if (body.status === 'error') socket.emit(ERROR_EVENT, body);
  }

  #markPending(socketId: string, serverId: string): void {
    let set = this.#pending.get(socketId);
    if (!set) this.#pending.set(socketId, (set = new Set()));
    set.add(serverId);
    this.#retryTimer ??= setInterval(() => this.#retryPending(), this.#o.retryMs).unref();
  }

  #retryPending(): void {
    const nsp = this.#nsp;
    for (const [socketId, servers] of this.#pending) {
      const socket = nsp?.sockets.get(socketId);
      if (!socket) {
        this.#pending.delete(socketId);
        continue;
      }
      if (!socket.conn.transport.writable) continue;
      this.#pending.delete(socketId);
      for (const serverId of servers) {
        const view = socket.rooms.has(roomOf(serverId)) ? this.#o.catalog.view(serverId) : undefined;
        const stats = view && connectionStats(view);
        if (stats) socket.emit(DATA_EVENT, { timestamp: new Date().toISOString(), ...stats });
      }
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#retryTimer);
      this.#retryTimer = undefined;
    }
  }

  /** A writer that hangs writes nothing: tell subscribers when a server turns stale (or back). */
  #checkFreshness(): void {
    const rooms = this.#nsp?.adapter.rooms;
    if (!rooms) return;
    for (const serverId of this.#o.catalog.ids()) {
      if (!rooms.get(roomOf(serverId))?.size) continue;
      const view = this.#o.catalog.view(serverId);
      if (view && this.#lastSeen.get(serverId) !== freshness(view)) this.broadcast(serverId);
    }
  }
}

/** What makes subscribers' view of a server outdated without a new snapshot. */
function freshness(view: ServerView): string {
  return `${view.stale}|${view.supervisor?.state ?? 'external'}|${view.snapshotError ?? ''}`;
}

/**
 * Without a token, a browser page of another origin is refused: browsers apply no CORS to
 * WebSockets. This stops cross-origin pages only; a page that rebinds its name to this address
 * is same-origin by then, and only the Host check before this one stops it.
 */
function sameOriginOnly(req: http.IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void): void {
  const origin = req.headers.origin;
  if (origin === undefined) return callback(null, true);
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    // `Origin: null` (a file:// page, a sandboxed frame) names no host: not this origin.
  }
  // Host names are case-insensitive; the URL parser lower-cases the origin's.
  const same = host !== undefined && host === req.headers.host?.toLowerCase();
  callback(same ? null : 'Cross-origin request refused (set --token to allow other origins)', same);
}
