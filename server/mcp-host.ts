/**
 * The MCP endpoint of the child: Streamable HTTP at `/mcp` on the official SDK, one transport
 * and one McpServer per session. It feeds the {@link SessionRegistry}: a session starts with
 * `initialize`, is counted on every request, and ends on DELETE, transport close, idle timeout
 * or shutdown. A request naming an unknown or ended session gets 404, so clients start anew
 * (MCP spec, Streamable HTTP, "Session Management").
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { hostHeaderValidation, localhostHostValidation } from '@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js';
import { isInitializeRequest, type InitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { TrustProxy } from '../shared/settings.js';
import type { CloseReason, McpEndpoint } from '../shared/snapshot.js';
import type { HostableServer, ServerFactory } from './load-entry.js';
import type { SessionRegistry } from './session-registry.js';

export const MCP_ENDPOINT = '/mcp';

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
  /** Which X-Forwarded-For entries to believe for the client IP (Express `trust proxy`); false = the socket's address. */
  trustProxy: TrustProxy;
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
  /** Last time a request of this session started or ended (ms). */
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

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const ANY = new Set(['0.0.0.0', '::']);

function jsonRpcError(res: Response, status: number, code: number, message: string): void {
  if (res.headersSent) return;
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

/** `::ffff:127.0.0.1` -> `127.0.0.1`: IPv4 clients of a dual-stack socket. */
function normalizeIp(ip: string | undefined): string {
  if (!ip) return 'unknown';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

function urlHost(host: string): string {
  if (ANY.has(host)) return host === '::' ? '[::1]' : '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export class McpHost {
  readonly #o: McpHostOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, Session>();
  /** `initialize` requests under way, counted against maxSessions. */
  #initializing = 0;
  #http: http.Server | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #endpoint: McpEndpoint | undefined;
  #started = false;
  #closing = false;
  #closePromise: Promise<void> | undefined;

  constructor(options: McpHostOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  /** Where clients reach the server, once started. */
  get endpoint(): McpEndpoint | undefined {
    return this.#endpoint;
  }

  /** Binds the port; resolves with the endpoint (the real port when 0 was asked). */
  async start(): Promise<McpEndpoint> {
    if (this.#started) throw new Error('McpHost already started');
    this.#started = true;
    const server = http.createServer(this.#app());
    this.#http = server;
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
      const every = Math.min(Math.max(Math.floor(this.#o.sessionIdleMs / 4), 50), 30_000);
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
    // DNS-rebinding protection: an unknown Host header gets 403 (the SDK's middleware).
    if (LOOPBACK.has(host)) app.use(localhostHostValidation());
    else if (!ANY.has(host)) app.use(hostHeaderValidation([host]));
    else this.#log.warn({ host }, 'MCP endpoint bound to all interfaces without Host header validation');
    app.use(express.json({ limit: '4mb' }));
    app.post(MCP_ENDPOINT, (req, res) => this.#post(req, res));
    app.get(MCP_ENDPOINT, (req, res) => this.#existing(req, res));
    app.delete(MCP_ENDPOINT, (req, res) => this.#existing(req, res));
    app.all(MCP_ENDPOINT, (_req, res) => {
      res.set('Allow', 'GET, POST, DELETE');
      jsonRpcError(res, 405, -32000, 'Method not allowed');
    });
    app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
      if (err.type === 'entity.parse.failed') return jsonRpcError(res, 400, -32700, 'Parse error: the body is not JSON');
      if (err.type === 'entity.too.large') return jsonRpcError(res, 413, -32000, 'Request body too large');
      this.#log.error({ err }, 'MCP request failed');
      jsonRpcError(res, err.status ?? 500, -32603, 'Internal error');
    });
    return app;
  }

  #clientIp(req: Request): string {
    return normalizeIp(this.#o.trustProxy !== false ? req.ip : req.socket.remoteAddress);
  }

  async #post(req: Request, res: Response): Promise<void> {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') return this.#existing(req, res);
    if (!isInitializeRequest(req.body)) {
      return jsonRpcError(res, 400, -32000, 'Bad Request: no valid session id; start with an initialize request');
    }
    if (this.#closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
    if (this.#sessions.size + this.#initializing >= this.#o.maxSessions) {
      res.set('Retry-After', String(this.#o.retryAfterSeconds ?? 5));
      this.#log.warn({ maxSessions: this.#o.maxSessions }, 'session limit reached; initialize refused');
      return jsonRpcError(res, 503, -32000, `Too many sessions (limit ${this.#o.maxSessions}); retry later`);
    }
    await this.#initialize(req, res, req.body as InitializeRequest);
  }

  async #initialize(req: Request, res: Response, body: InitializeRequest): Promise<void> {
    this.#initializing += 1;
    let session: Session | undefined;
    let server: HostableServer | undefined;
    try {
      server = await this.#o.createServer();
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          // Runs before the SDK processes initialize: clientInfo comes from the request body.
          this.#initializing -= 1;
          session = { id, transport, server: server!, inFlight: 1, lastSeen: Date.now(), goneTimer: undefined };
          this.#sessions.set(id, session);
          const now = new Date().toISOString();
          const { clientInfo, protocolVersion } = body.params;
          this.#o.registry.add({
            sessionId: id,
            clientIP: this.#clientIp(req),
            userAgent: req.headers['user-agent'] ?? null,
            connectedAt: now,
            lastActivity: now,
            requestCount: 1,
            clientInfo: clientInfo ? { ...clientInfo, name: clientInfo.name, version: clientInfo.version } : null,
            protocolVersion: protocolVersion ?? null,
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
        this.#initializing -= 1;
        await server?.close().catch(() => undefined);
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
    session.lastSeen = Date.now();
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
    session.lastSeen = Date.now();
    if (wasStream && session.inFlight === 0 && !this.#closing && this.#sessions.get(session.id) === session) {
      clearTimeout(session.goneTimer);
      const grace = this.#o.goneGraceMs ?? GONE_GRACE_MS;
      session.goneTimer = setTimeout(() => {
        if (session.inFlight === 0) void this.#end(session.id, 'close');
      }, grace).unref();
    }
  }

  #sweepIdle(): void {
    const cutoff = Date.now() - this.#o.sessionIdleMs;
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
    this.#log.info({ sessionId: id, reason }, 'session ended');
    if (closeServer) {
      await s.server.close().catch((err: Error) => this.#log.warn({ err: err.message, sessionId: id }, 'closing a session failed'));
    }
  }
}
