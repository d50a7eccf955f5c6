/**
 * The MCP endpoint of the child: Streamable HTTP at `/mcp` on the official SDK, one transport
 * and one McpServer per session. It feeds the {@link SessionRegistry}: a session starts with
 * `initialize`, is counted on every request, and ends on DELETE, transport close, idle timeout
 * or shutdown. A request naming an unknown or ended session gets 404, so clients start anew
 * (MCP spec, Streamable HTTP, "Session Management").
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, type InitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { allowedHostNames, isAnyAddress, isHostAllowed, urlHostName } from '../shared/host-check.js';
import type { TrustProxy } from '../shared/settings.js';
import type { CloseReason, McpEndpoint } from '../shared/snapshot.js';
import { boundClientInfo, boundProtocolVersion, boundUserAgent, clientAddress } from './client-fields.js';
import { createLimitedHttpServer } from '../shared/limited-http-server.js';
import { httpLimits, type HttpLimits } from './http-limits.js';
import { jsonRpcError, jsonRpcErrorHandler } from './json-rpc-error.js';
import type { HostableServer, ServerFactory } from './load-entry.js';
import type { SessionRegistry } from './session-registry.js';
import { SessionSlots, type ReleaseSlot } from './session-slots.js';

/** The path of the MCP endpoint. */
export const MCP_ENDPOINT = '/mcp';

/** Options of an {@link McpHost}. */
export interface McpHostOptions {
  /** Bind address. */
  host: string;
  /** Port; 0 = any free port. */
  port: number;
  registry: SessionRegistry;
  createServer: ServerFactory;
  logger: Logger;
  /** Sessions held at once; past it `initialize` gets 503 with Retry-After. */
  maxSessions: number;
  /** Close a session with no request for this long and none in flight; 0 = never. */
  sessionIdleMs: number;
  /**
   * Which X-Forwarded-For entries to believe for the client IP, given to Express `trust proxy`
   * as is: false = the socket's address; N = the address N hops from the socket (the one the
   * nearest trusted proxy saw); `'loopback'` = proxies on a loopback address.
   */
  trustProxy: TrustProxy;
  /** More host names (lower-case, IPv6 in brackets, no port) accepted in `Host` (`--allowed-hosts`). Default none. */
  allowedHosts?: readonly string[];
  /** Body, timeout and socket limits of the HTTP server. Default {@link httpLimits} for `maxSessions`. */
  limits?: Partial<HttpLimits>;
  /** A monotonic clock in ms, for idle times (never the wall clock: it steps). Default `performance.now`. */
  clock?: () => number;
  /** How often idle sessions are looked for. Default a quarter of `sessionIdleMs`, within 50 ms-30 s. */
  sweepIntervalMs?: number;
  /** Seconds a refused `initialize` is told to wait. Default 5. */
  retryAfterSeconds?: number;
  /** How long after its GET stream closed a silent session ends (reason `close`). Default {@link GONE_GRACE_MS}. */
  goneGraceMs?: number;
}

interface Session {
  id: string;
  transport: StreamableHTTPServerTransport;
  server: HostableServer;
  /** HTTP requests of this session not answered yet (an open GET stream counts). */
  inFlight: number;
  /** Last time a request of this session started or ended (ms of the monotonic clock). */
  lastSeen: number;
  /** Armed when the client's GET stream went away and nothing else is open (see GONE_GRACE_MS). */
  goneTimer: NodeJS.Timeout | undefined;
}

/**
 * A client that leaves without DELETE (the SDK client's close() sends none) shows it only by
 * dropping its GET stream. A client whose stream merely broke reconnects within a few seconds
 * (the SDK retries after 1 s, then 1.5 s); one that does not, and sends nothing else, is gone:
 * its session ends with reason `close` this long after the stream did.
 */
export const GONE_GRACE_MS = 5000;

/** The host of the published URL: a wildcard bind address is reached through loopback. */
function urlHost(host: string): string {
  if (isAnyAddress(host)) return host === '0.0.0.0' ? '127.0.0.1' : '[::1]';
  return urlHostName(host);
}

/** The child's MCP endpoint: owns its HTTP server and its sessions (`start()`/`close()`). */
export class McpHost {
  readonly #o: McpHostOptions;
  readonly #log: Logger;
  readonly #limits: HttpLimits;
  readonly #now: () => number;
  readonly #sessions = new Map<string, Session>();
  /** Open sessions and `initialize` requests under way, against maxSessions. */
  readonly #slots: SessionSlots;
  #http: http.Server | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #endpoint: McpEndpoint | undefined;
  #started = false;
  #closing = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: McpHostOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#limits = httpLimits(options.maxSessions, options.limits);
    this.#now = options.clock ?? (() => performance.now());
    this.#slots = new SessionSlots(options.maxSessions, () => this.#sessions.size);
  }

  /** Where clients reach the server, once started. */
  get endpoint(): McpEndpoint | undefined {
    return this.#endpoint;
  }

  /** Binds the port; resolves with the endpoint (the real port when 0 was asked). */
  async start(): Promise<McpEndpoint> {
    if (this.#started) throw new Error('McpHost already started');
    this.#started = true;
    const server = createLimitedHttpServer(this.#app(), this.#limits);
    this.#http = server;
    let dropped = 0;
    server.on('drop', () => {
      dropped += 1;
      // A flood would flood the log too: the first, then every 100th.
      if (dropped === 1 || dropped % 100 === 0) this.#log.warn({ maxConnections: server.maxConnections, dropped }, 'connection limit reached; new connections closed');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    this.#endpoint = { url: `http://${urlHost(this.#o.host)}:${port}${MCP_ENDPOINT}`, endpoint: MCP_ENDPOINT, port };
    if (this.#o.sessionIdleMs > 0) {
      const every = this.#o.sweepIntervalMs ?? Math.min(Math.max(Math.floor(this.#o.sessionIdleMs / 4), 50), 30_000);
      this.#sweepTimer = setInterval(() => this.#sweepIdle(), every).unref();
    }
    return this.#endpoint;
  }

  /** Ends every session (reason `shutdown`) and closes the port. Safe to call many times. */
  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweepTimer);
    const server = this.#http;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    await Promise.all([...this.#sessions.keys()].map((id) => this.#end(id, 'shutdown')));
    // Sockets go idle as their last responses end: close them as they do. Every session is
    // ended by now, so what is left (a half-sent initialize, a stream a vanished client never
    // read to its end) gets a short grace, then its socket is cut.
    const sweep = setInterval(() => server?.closeIdleConnections(), 20);
    const grace = setTimeout(() => server?.closeAllConnections(), 250).unref();
    server?.closeIdleConnections();
    await closed;
    clearInterval(sweep);
    clearTimeout(grace);
  }

  #app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('trust proxy', this.#o.trustProxy);
    const { host } = this.#o;
    // DNS-rebinding protection (contract §6): the loopback names, the bind address (an IPv6
    // one in brackets, as it comes in `Host`) and --allowed-hosts; anything else gets 403.
    const allowed = allowedHostNames(host, this.#o.allowedHosts);
    if (allowed === null) this.#log.warn({ host }, 'MCP endpoint bound to all interfaces without Host header validation (set --allowed-hosts)');
    else {
      app.use((req, res, next) => (isHostAllowed(req.headers.host, allowed) ? next() : jsonRpcError(res, 403, -32000, 'Invalid Host header')));
    }
    // An initialize comes before any session: it gets a small body, and holds a session slot
    // while its body is read (a slow body must not slip past --max-sessions). Only a session
    // that exists may send a large one: an unknown id gets 404 before its body is read.
    const initJson = express.json({ limit: this.#limits.initializeBodyBytes });
    const sessionJson = express.json({ limit: this.#limits.sessionBodyBytes });
    const json: RequestHandler = (req, res, next) => {
      const sid = req.headers['mcp-session-id'];
      if (typeof sid !== 'string') return initJson(req, res, next);
      if (!this.#sessions.has(sid)) return jsonRpcError(res, 404, -32001, 'Session not found');
      return sessionJson(req, res, next);
    };
    app.post(MCP_ENDPOINT, (req, res, next) => this.#admit(req, res, next), json, (req, res) => this.#post(req, res));
    app.get(MCP_ENDPOINT, json, (req, res) => this.#existing(req, res));
    app.delete(MCP_ENDPOINT, json, (req, res) => this.#existing(req, res));
    app.all(MCP_ENDPOINT, (_req, res) => {
      res.set('Allow', 'GET, POST, DELETE');
      jsonRpcError(res, 405, -32000, 'Method not allowed');
    });
    app.use(jsonRpcErrorHandler(this.#log));
    return app;
  }

  #clientIp(req: Request): string {
    return clientAddress(this.#o.trustProxy !== false ? req.ip : req.socket.remoteAddress);
  }

  /**
   * Before the body of a POST without a session id is read: refuses it when the server is
   * closing or full, else reserves a session slot until it becomes a session or its response ends.
   */
  #admit(req: Request, res: Response, next: NextFunction): void {
    if (typeof req.headers['mcp-session-id'] === 'string') return next();
    if (this.#closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
    const release = this.#slots.reserve();
    if (!release) {
      res.set('Retry-After', String(this.#o.retryAfterSeconds ?? 5));
      this.#log.warn({ maxSessions: this.#o.maxSessions }, 'session limit reached; initialize refused');
      return jsonRpcError(res, 503, -32000, `Too many sessions (limit ${this.#o.maxSessions}); retry later`);
    }
    res.on('close', release);
    res.locals.release = release;
    next();
  }

  async #post(req: Request, res: Response): Promise<void> {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') return this.#existing(req, res);
    if (!isInitializeRequest(req.body)) {
      return jsonRpcError(res, 400, -32000, 'Bad Request: no valid session id; start with an initialize request');
    }
    await this.#initialize(req, res, req.body as InitializeRequest, res.locals.release as ReleaseSlot);
  }

  /** `slot`: the session slot {@link #admit} reserved; released once the session holds its own. */
  async #initialize(req: Request, res: Response, body: InitializeRequest, slot: ReleaseSlot): Promise<void> {
    let session: Session | undefined;
    let server: HostableServer | undefined;
    try {
      server = await this.#o.createServer();
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          // Runs before the SDK processes initialize: clientInfo comes from the request body.
          slot();
          session = { id, transport, server: server!, inFlight: 1, lastSeen: this.#now(), goneTimer: undefined };
          this.#sessions.set(id, session);
          const now = new Date().toISOString();
          // Only bounded fields are kept: they are rewritten into every snapshot (review H2, M3).
          this.#o.registry.add({
            sessionId: id,
            clientIP: this.#clientIp(req),
            userAgent: boundUserAgent(req.headers['user-agent']),
            connectedAt: now,
            lastActivity: now,
            requestCount: 1,
            clientInfo: boundClientInfo(body.params.clientInfo),
            protocolVersion: boundProtocolVersion(body.params.protocolVersion),
          });
        },
        // DELETE: the transport closes itself right after this.
        onsessionclosed: (id) => void this.#end(id, 'delete', false),
      });
      // Set before connect(): the SDK chains its own handler after ours.
      transport.onclose = () => {
        if (transport.sessionId) void this.#end(transport.sessionId, 'close', false);
      };
      transport.onerror = (err) => this.#log.debug({ err: err.message }, 'MCP transport error');
      await server.connect(transport);
      res.on('close', () => this.#settle(session));
      await transport.handleRequest(req, res, body);
    } catch (err) {
      this.#log.error({ err }, 'initialize failed');
      jsonRpcError(res, 500, -32603, 'Internal error');
    } finally {
      if (!session) {
        // Not initialized (an error, or the SDK refused it): nothing to keep.
        slot();
        await server?.close().catch((err: Error) => this.#log.warn({ err: err.message }, 'closing the server of a failed initialize failed'));
      }
    }
  }

  /** A request of an existing session: POST with a session id, GET stream, DELETE. */
  async #existing(req: Request, res: Response): Promise<void> {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string') return jsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    const session = this.#sessions.get(sid);
    if (!session) return jsonRpcError(res, 404, -32001, 'Session not found');
    session.inFlight += 1;
    session.lastSeen = this.#now();
    clearTimeout(session.goneTimer);
    session.goneTimer = undefined;
    this.#o.registry.touch(sid);
    res.on('close', () => this.#settle(session, req.method === 'GET'));
    try {
      await session.transport.handleRequest(req, res, req.body);
    } catch (err) {
      this.#log.error({ err, sessionId: sid }, 'MCP request failed');
      jsonRpcError(res, 500, -32603, 'Internal error');
    }
  }

  #settle(session: Session | undefined, wasStream = false): void {
    if (!session) return;
    session.inFlight -= 1;
    session.lastSeen = this.#now();
    if (wasStream && session.inFlight === 0 && !this.#closing && this.#sessions.get(session.id) === session) {
      clearTimeout(session.goneTimer);
      const grace = this.#o.goneGraceMs ?? GONE_GRACE_MS;
      session.goneTimer = setTimeout(() => {
        if (session.inFlight === 0) void this.#end(session.id, 'close');
      }, grace).unref();
    }
  }

  #sweepIdle(): void {
    const cutoff = this.#now() - this.#o.sessionIdleMs;
    for (const s of [...this.#sessions.values()]) {
      if (s.inFlight === 0 && s.lastSeen <= cutoff) void this.#end(s.id, 'idle');
    }
  }

  /**
   * Ends a session once: out of the map first (so a late request gets 404 and the transport's
   * onclose finds nothing), then out of the registry, then the server and transport are closed.
   */
  async #end(id: string, reason: CloseReason, closeServer = true): Promise<void> {
    const s = this.#sessions.get(id);
    if (!s) return;
    clearTimeout(s.goneTimer);
    this.#sessions.delete(id);
    this.#o.registry.remove(id, reason);
    // debug: per-session lines at info would flood a busy child's log (review M6).
    this.#log.debug({ sessionId: id, reason }, 'session ended');
    if (closeServer) {
      await s.server.close().catch((err: Error) => this.#log.warn({ err: err.message, sessionId: id }, 'closing a session failed'));
    }
  }
}
