/**
 * The legacy era (2024-11-05 … 2025-11-25) of the MCP endpoint: Streamable HTTP with sessions,
 * one transport and one McpServer per session, from either SDK generation. It feeds the
 * {@link SessionRegistry}: a session starts with `initialize`, is counted on every request, and
 * ends on DELETE, transport close, idle timeout or shutdown. A request naming an unknown or ended
 * session gets 404, so clients start anew (MCP spec, Streamable HTTP, "Session Management").
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { NextFunction, Request, Response } from 'express';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import type { Logger } from 'pino';
import type { CloseReason } from '../../../shared/snapshot.js';
import { boundClientInfo, boundProtocolVersion, boundText, boundUserAgent } from '../../sessions/client-fields.js';
import { jsonRpcError } from '../../endpoint/json-rpc-error.js';
import { BackendStartError, type HostableServer, type ServerSource, type SessionProcess } from './server-source.js';
import { METHOD_MAX, outcomeOf } from '../../operations/operation-recorder.js';
import { tapResponses, type HttpCall, type JsonRpcId, type PendingOperation } from '../../operations/operation-tap.js';
import type { SessionRegistry } from '../../sessions/session-registry.js';
import { SessionSlots, type ReleaseSlot } from '../../sessions/session-slots.js';

/**
 * A client that leaves without DELETE (the SDK client's close() sends none) shows it only by
 * dropping its GET stream. A client whose stream merely broke reconnects within a few seconds
 * (the SDK retries after 1 s, then 1.5 s); one that does not, and sends nothing else, is gone:
 * its session ends with reason `close` this long after the stream did.
 */
export const GONE_GRACE_MS = 5000;

/** Options of {@link LegacySessions}. */
export interface LegacySessionsOptions {
  registry: SessionRegistry;
  servers: ServerSource;
  logger: Logger;
  /** Sessions held at once; past it `initialize` gets 503 with Retry-After. */
  maxSessions: number;
  /** Close a session with no request for this long and none in flight; 0 = never. */
  sessionIdleMs: number;
  /** The stored client address of a request. */
  clientIp: (req: Request) => string;
  /** A monotonic clock in ms. Default `performance.now`. */
  clock?: () => number;
  /** How often idle sessions are looked for. Default a quarter of `sessionIdleMs`, within 50 ms-30 s. */
  sweepIntervalMs?: number;
  /** Seconds a refused `initialize` is told to wait. Default 5. */
  retryAfterSeconds?: number;
  /** How long after its GET stream closed a silent session ends (reason `close`). Default {@link GONE_GRACE_MS}. */
  goneGraceMs?: number;
}

/** The transport of either SDK generation, as used here (both have the same shape). */
interface SessionTransport {
  sessionId?: string | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((err: Error) => void) | undefined;
  handleRequest(req: Request, res: Response, body?: unknown): Promise<void>;
  send(message: never, options?: never): Promise<void>;
}

interface Session {
  id: string;
  transport: SessionTransport;
  server: HostableServer;
  /** Its own process, when its server is a program (`--command`). */
  process: SessionProcess | undefined;
  /** HTTP requests of this session not answered yet (an open GET stream counts). */
  inFlight: number;
  /** Last time a request of this session started or ended (ms of the monotonic clock). */
  lastSeen: number;
  /** Armed when the client's GET stream went away and nothing else is open (see GONE_GRACE_MS). */
  goneTimer: NodeJS.Timeout | undefined;
  /** Operations sent to this session and not answered yet, by JSON-RPC id. */
  pending: Map<JsonRpcId, PendingOperation>;
}

/** The legacy sessions of one child (`start()`/`close()`). */
export class LegacySessions {
  readonly #o: LegacySessionsOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #sessions = new Map<string, Session>();
  /** Open sessions and `initialize` requests under way, against maxSessions. */
  readonly #slots: SessionSlots;
  #sweepTimer: NodeJS.Timeout | undefined;
  #started = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  /** Ended sessions whose process (`--command`) has not exited yet: each still holds its slot. */
  #exiting = 0;

  constructor(options: LegacySessionsOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#now = options.clock ?? (() => performance.now());
    this.#slots = new SessionSlots(options.maxSessions, () => this.#sessions.size + this.#exiting);
  }

  /** Whether `sid` names an open session. */
  has(sid: string): boolean {
    return this.#sessions.has(sid);
  }

  /**
   * Ends session `sid` on request (a control request, see shared/control-request.ts): reason
   * `terminated`, `by` who asked; its server (and a `--command` session's process) is closed, and
   * its next request gets 404. Returns false when no such session is open.
   */
  terminate(sid: string, by: string): boolean {
    if (!this.#sessions.has(sid)) return false;
    void this.#end(sid, 'terminated', true, by);
    return true;
  }

  /** Starts looking for idle sessions. Throws when called twice. */
  start(): void {
    if (this.#started) throw new Error('LegacySessions already started');
    this.#started = true;
    if (this.#closing) return;
    if (this.#o.sessionIdleMs > 0) {
      const every = this.#o.sweepIntervalMs ?? Math.min(Math.max(Math.floor(this.#o.sessionIdleMs / 4), 50), 30_000);
      this.#sweepTimer = setInterval(() => this.#sweepIdle(), every).unref();
    }
  }

  /** Ends every session (reason `shutdown`); later requests are refused. The same promise every time. */
  close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweepTimer);
    this.#closed ??= Promise.all([...this.#sessions.keys()].map((id) => this.#end(id, 'shutdown'))).then(() => undefined);
    return this.#closed;
  }

  /**
   * Before the body of a POST without a session id is read: refuses it when closing or full,
   * else reserves a session slot until it becomes a session or its response ends.
   */
  admit(req: Request, res: Response, next: NextFunction): void {
    if (this.#closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
    if (!this.#reserve(res)) return;
    next();
  }

  #reserve(res: Response): ReleaseSlot | undefined {
    const release = this.#slots.reserve();
    if (!release) {
      res.set('Retry-After', String(this.#o.retryAfterSeconds ?? 5));
      this.#log.warn({ maxSessions: this.#o.maxSessions }, 'session limit reached; initialize refused');
      jsonRpcError(res, 503, -32000, `Too many sessions (limit ${this.#o.maxSessions}); retry later`);
      return undefined;
    }
    res.on('close', release);
    res.locals.release = release;
    return release;
  }

  /** A legacy POST: a request of a session, or an `initialize`. */
  async post(req: Request, res: Response, call: HttpCall): Promise<void> {
    if (typeof req.headers['mcp-session-id'] === 'string') return this.existing(req, res, call);
    const body = req.body as { method?: unknown; params?: { clientInfo?: unknown; protocolVersion?: unknown } } | undefined;
    // Not initialize: a 400 that is not -32022, so that a negotiating modern client falls back
    // to initialize (-32022, UnsupportedProtocolVersion, would make it retry another modern
    // version instead); never 5xx, which makes it fail instead.
    if (Array.isArray(body) || body?.method !== 'initialize' || typeof body.params !== 'object' || body.params === null) {
      return jsonRpcError(res, 400, -32000, 'Bad Request: no valid session id; start with an initialize request');
    }
    // What the SDK's transport would refuse, refused before a server (a process) is made for it.
    const refusal = initializeRefusal(req, body as Record<string, unknown>);
    if (refusal) return jsonRpcError(res, refusal.status, refusal.code, refusal.message);
    // A POST that looked modern by its headers came in without a slot (McpHost): take one now.
    let slot = res.locals.release as ReleaseSlot | undefined;
    if (!slot) {
      if (this.#closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
      slot = this.#reserve(res);
      if (!slot) return;
    }
    await this.#initialize(req, res, body.params, slot, call);
  }

  #transport(onInitialized: (id: string) => void, onClosed: (id: string) => void): SessionTransport {
    const options = { sessionIdGenerator: () => randomUUID(), onsessioninitialized: onInitialized, onsessionclosed: onClosed };
    return (this.#o.servers.sdk === 'v2' ? new NodeStreamableHTTPServerTransport(options) : new StreamableHTTPServerTransport(options)) as unknown as SessionTransport;
  }

  /** `slot`: the session slot reserved for it; released once the session holds its own. */
  async #initialize(req: Request, res: Response, params: { clientInfo?: unknown; protocolVersion?: unknown }, slot: ReleaseSlot, call: HttpCall): Promise<void> {
    let session: Session | undefined;
    let server: HostableServer | undefined;
    let proc: SessionProcess | undefined;
    const pending = new Map<JsonRpcId, PendingOperation>();
    try {
      ({ server, process: proc } = await this.#o.servers.create({ era: 'legacy' }));
      const transport = this.#transport(
        (id) => {
          // Runs before the SDK processes initialize: clientInfo comes from the request body.
          slot();
          session = { id, transport, server: server!, process: proc, inFlight: 1, lastSeen: this.#now(), goneTimer: undefined, pending };
          this.#sessions.set(id, session);
          const now = new Date().toISOString();
          // Only bounded fields are kept: they are rewritten into every snapshot (see
          // client-fields.ts).
          this.#o.registry.add({
            sessionId: id,
            clientIP: this.#o.clientIp(req),
            userAgent: boundUserAgent(req.headers['user-agent']),
            connectedAt: now,
            lastActivity: now,
            requestCount: 1,
            clientInfo: boundClientInfo(params.clientInfo),
            protocolVersion: boundProtocolVersion(params.protocolVersion),
            era: 'legacy',
            lastMethod: 'initialize',
            ...(proc?.pid !== undefined && { process: { pid: proc.pid, rssBytes: null } }),
          });
          if (proc) {
            proc.useLogger(this.#log.child({ sessionId: id }));
            proc.assignSession(id);
            // Its process exited: the session is over (the transport is closed by #end).
            proc.onProcessExit(() => void this.#end(id, 'process-exit'));
            proc.onOverflow((o) => void this.#end(id, o.reason));
          }
          // Closed while the SDK was taking this initialize: ended at once, not left behind.
          if (this.#closing) void this.#end(id, 'shutdown');
        },
        // DELETE: the transport closes itself right after this.
        (id) => void this.#end(id, 'delete', false),
      );
      // Set before connect(): the SDK chains its own handler after ours.
      transport.onclose = () => {
        if (transport.sessionId) void this.#end(transport.sessionId, 'close', false);
      };
      transport.onerror = (err) => this.#log.debug({ err: err.message }, 'MCP transport error');
      await server.connect(transport as never);
      // Closed while its server (a process) was starting: it is closed below, not made a session.
      if (this.#closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
      tapResponses(transport, (m) => settle(pending, m));
      expect(pending, call);
      res.on('close', () => {
        forget(pending, call);
        this.#settle(session);
      });
      proc?.watch(res);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      if (err instanceof BackendStartError) {
        this.#log.error({ err: err.message }, 'initialize failed');
        jsonRpcError(res, 502, -32603, err.message);
      } else {
        this.#log.error({ err }, 'initialize failed');
        jsonRpcError(res, 500, -32603, 'Internal error');
      }
    } finally {
      if (!session) {
        // Not initialized (an error, or the SDK refused it): nothing to keep. The slot is held
        // until the server (a process) is gone, so that processes never outnumber the slots.
        await server?.close().catch((err: Error) => this.#log.warn({ err: err.message }, 'closing the server of a failed initialize failed'));
        slot();
      }
    }
  }

  /** A request of an existing session: POST with a session id, GET stream, DELETE. */
  async existing(req: Request, res: Response, call?: HttpCall): Promise<void> {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string') return jsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    const session = this.#sessions.get(sid);
    if (!session) return jsonRpcError(res, 404, -32001, 'Session not found');
    const proc = session.process;
    if (proc && req.method === 'POST' && !proc.accepting) {
      // Its process has not read what it was sent (busy, hung): queue no more (see
      // command/bridge-flow.ts).
      res.set('Retry-After', String(this.#o.retryAfterSeconds ?? 5));
      return jsonRpcError(res, 503, -32000, 'The MCP server process is not reading its input; retry later');
    }
    proc?.watch(res);
    session.inFlight += 1;
    session.lastSeen = this.#now();
    clearTimeout(session.goneTimer);
    session.goneTimer = undefined;
    this.#o.registry.touch(sid, call?.method === undefined ? undefined : boundText(call.method, METHOD_MAX));
    if (call) expect(session.pending, call);
    res.on('close', () => {
      if (call) forget(session.pending, call);
      this.#settle(session, req.method === 'GET');
    });
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
  async #end(id: string, reason: CloseReason, closeServer = true, by?: string): Promise<void> {
    const s = this.#sessions.get(id);
    if (!s) return;
    clearTimeout(s.goneTimer);
    this.#sessions.delete(id);
    this.#o.registry.remove(id, reason, new Date(), undefined, by);
    // debug: per-session lines at info would flood a busy child's log.
    this.#log.debug({ sessionId: id, reason }, 'session ended');
    // A session's own process (--command) ends with its session, however that ended.
    const own = s.process !== undefined;
    // Its process holds the session's slot until it has exited.
    if (own) this.#exiting += 1;
    try {
      if (closeServer || own) {
        await s.server.close().catch((err: Error) => this.#log.warn({ err: err.message, sessionId: id }, 'closing a session failed'));
      }
    } finally {
      if (own) this.#exiting -= 1;
    }
  }
}

/** Why the SDK's transport would refuse this `initialize` POST (its status, code and message), or undefined. */
function initializeRefusal(req: Request, body: Record<string, unknown>): { status: number; code: number; message: string } | undefined {
  const accept = String(req.headers.accept ?? '');
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
    return { status: 406, code: -32000, message: 'Not Acceptable: Client must accept both application/json and text/event-stream' };
  }
  if (!String(req.headers['content-type'] ?? '').includes('application/json')) {
    return { status: 415, code: -32000, message: 'Unsupported Media Type: Content-Type must be application/json' };
  }
  const id = body.id;
  const version = (body.params as { protocolVersion?: unknown }).protocolVersion;
  if (body.jsonrpc !== '2.0' || (typeof id !== 'string' && typeof id !== 'number') || typeof version !== 'string') {
    return { status: 400, code: -32600, message: 'Invalid Request: not a JSON-RPC initialize request' };
  }
  return undefined;
}

/** The operations of `call` now wait for their responses in `pending`. */
function expect(pending: Map<JsonRpcId, PendingOperation>, call: HttpCall): void {
  if (call.ops) for (const op of call.ops) pending.set(op.id, op);
}

/** The response of `call` closed: its operations wait no more (answered or not). */
function forget(pending: Map<JsonRpcId, PendingOperation>, call: HttpCall): void {
  if (call.ops) for (const op of call.ops) if (pending.get(op.id) === op) pending.delete(op.id);
}

function settle(pending: Map<JsonRpcId, PendingOperation>, m: { id: JsonRpcId }): void {
  const op = pending.get(m.id);
  if (!op) return;
  op.outcome = outcomeOf(m);
  pending.delete(m.id);
}
