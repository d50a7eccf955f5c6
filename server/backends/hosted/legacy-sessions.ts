/**
 * The legacy era (2024-11-05 … 2025-11-25) of a hosted server: Streamable HTTP with sessions,
 * one transport and one McpServer per session, from either SDK generation. Its sessions live in
 * the {@link SessionTable} (slots, idleness, the gone-grace, ending once); what is its own: a
 * session starts with `initialize`, and ends too when the client's DELETE is taken, its
 * transport closes, or its process (`--command`) exits or overflows. A request naming an
 * unknown or ended session gets 404, so clients start anew (MCP spec, Streamable HTTP,
 * "Session Management").
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import type { Logger } from 'pino';
import { answerFull, type Arrival } from '../../endpoint/front-door.js';
import { jsonRpcError } from '../../endpoint/json-rpc-error.js';
import { boundText } from '../../sessions/client-fields.js';
import { connectionRow } from '../../sessions/connection-row.js';
import type { SessionRegistry } from '../../sessions/session-registry.js';
import { SessionTable, type SessionEnd, type TableSession } from '../../sessions/session-table.js';
import type { ReleaseSlot, SessionSlots } from '../../sessions/session-slots.js';
import type { RequestObserver } from '../../operations/finished-request.js';
import { METHOD_MAX } from '../../operations/operation-recorder.js';
import { clientName, settle, tapResponses, type HttpCall, type JsonRpcId, type PendingOperation } from '../../operations/operation-tap.js';
import { BackendStartError, type HostableServer, type ServerSource, type SessionProcess } from './server-source.js';

export { GONE_GRACE_MS } from '../../sessions/session-table.js';

/** Options of {@link LegacySessions}. */
export interface LegacySessionsOptions {
  registry: SessionRegistry;
  servers: ServerSource;
  logger: Logger;
  /** Sessions held at once; past it `initialize` gets 503 with Retry-After. */
  maxSessions: number;
  /** Close a session with no request for this long and none in flight; 0 = never. */
  sessionIdleMs: number;
  /** A monotonic clock in ms. Default `performance.now`. */
  clock?: (() => number) | undefined;
  /** How often idle sessions are looked for. Default a quarter of `sessionIdleMs`, within 50 ms-30 s. */
  sweepIntervalMs?: number | undefined;
  /** Seconds a refused `initialize` is told to wait. Default 5. */
  retryAfterSeconds?: number | undefined;
  /** How long after its GET stream closed a silent session ends (reason `close`). Default {@link GONE_GRACE_MS}. */
  goneGraceMs?: number | undefined;
  /** Told of every `tools/list` result its sessions send (the endpoint's observers). Default none. */
  requests?: RequestObserver | undefined;
}

/** The transport of either SDK generation, as used here (both have the same shape). */
interface SessionTransport {
  sessionId?: string | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((err: Error) => void) | undefined;
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse, body?: unknown): Promise<void>;
  send(message: never, options?: never): Promise<void>;
}

/** What a hosted session holds besides its row. */
interface Hosted {
  transport: SessionTransport;
  server: HostableServer;
  /** Its own process, when its server is a program (`--command`). */
  process: SessionProcess | undefined;
  /** Operations sent to this session and not answered yet, by JSON-RPC id. */
  pending: Map<JsonRpcId, PendingOperation>;
  /** `clientInfo.name` of its `initialize`, as sent (its requests' FinishedRequest `client`). */
  client: string | null;
}

type Session = TableSession<Hosted>;

/** The legacy sessions of one hosted endpoint (`start()`/`close()`). */
export class LegacySessions {
  readonly #o: LegacySessionsOptions;
  readonly #log: Logger;
  readonly #table: SessionTable<Hosted>;
  /** Ended sessions whose process (`--command`) has not exited yet: each still holds its slot. */
  #exiting = 0;

  constructor(options: LegacySessionsOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#table = new SessionTable<Hosted>({
      registry: options.registry,
      logger: options.logger,
      maxSessions: options.maxSessions,
      sessionIdleMs: options.sessionIdleMs,
      sweepIntervalMs: options.sweepIntervalMs,
      goneGraceMs: options.goneGraceMs,
      clock: options.clock,
      held: () => this.#exiting,
      onEnd: (s, end) => this.#closeEnded(s, end),
    });
  }

  /** The session slots (open sessions, initializes under way, processes still exiting). */
  get slots(): SessionSlots {
    return this.#table.slots;
  }

  get closing(): boolean {
    return this.#table.closing;
  }

  /** Whether `sid` names an open session. */
  has(sid: string): boolean {
    return this.#table.has(sid);
  }

  /** Before its body is read (front-door.ts): only a session that is open may send a large one; any other id gets 404. */
  admit(sid: string): 'held' | 'unknown' {
    return this.#table.has(sid) ? 'held' : 'unknown';
  }

  /**
   * Ends session `sid` on request (a control request, see shared/control-request.ts): reason
   * `terminated`, `by` who asked; its server (and a `--command` session's process) is closed, and
   * its next request gets 404. Returns false when no such session is open.
   */
  terminate(sid: string, by: string): boolean {
    if (!this.#table.has(sid)) return false;
    void this.#table.end(sid, { reason: 'terminated', by, byPeer: false });
    return true;
  }

  /** Starts looking for idle sessions. Throws when called twice. */
  start(): void {
    this.#table.start();
  }

  /** Ends every session (reason `shutdown`); later requests are refused. The same promise every time. */
  close(): Promise<void> {
    return this.#table.close();
  }

  /** A legacy POST: a request of a session, or an `initialize`. */
  async post(a: Arrival): Promise<void> {
    if (a.sessionId !== undefined) return this.existing(a);
    const { req, res } = a;
    const body = a.body?.parsed as { method?: unknown; params?: { clientInfo?: unknown; protocolVersion?: unknown } } | undefined;
    // Not initialize: a 400 that is not -32022, so that a negotiating modern client falls back
    // to initialize (-32022, UnsupportedProtocolVersion, would make it retry another modern
    // version instead); never 5xx, which makes it fail instead.
    if (Array.isArray(body) || body?.method !== 'initialize' || typeof body.params !== 'object' || body.params === null) {
      return jsonRpcError(res, 400, -32000, 'Bad Request: no valid session id; start with an initialize request');
    }
    // What the SDK's transport would refuse, refused before a server (a process) is made for it.
    const refusal = initializeRefusal(req, body as Record<string, unknown>);
    if (refusal) return jsonRpcError(res, refusal.status, refusal.code, refusal.message);
    // A POST that looked modern by its headers came in without a slot (front-door.ts): take one now.
    let slot = a.slot;
    if (!slot) {
      if (this.#table.closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
      slot = this.#table.slots.reserve();
      if (!slot) return answerFull(res, 'initialize', this.#o.maxSessions, String(this.#o.retryAfterSeconds ?? 5), this.#log);
      res.once('close', slot);
    }
    await this.#initialize(a, body.params, slot);
  }

  #transport(onInitialized: (id: string) => void, onClosed: (id: string) => void): SessionTransport {
    const options = { sessionIdGenerator: () => randomUUID(), onsessioninitialized: onInitialized, onsessionclosed: onClosed };
    return (this.#o.servers.sdk === 'v2' ? new NodeStreamableHTTPServerTransport(options) : new StreamableHTTPServerTransport(options)) as unknown as SessionTransport;
  }

  /** `slot`: the session slot reserved for it; released once the session holds its own. */
  async #initialize(a: Arrival, params: { clientInfo?: unknown; protocolVersion?: unknown }, slot: ReleaseSlot): Promise<void> {
    const { req, res } = a;
    const call = a.call!;
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
          const row = connectionRow({
            sessionId: id,
            clientIP: a.clientIp(),
            userAgent: req.headers['user-agent'],
            clientInfo: params.clientInfo,
            protocolVersion: params.protocolVersion,
            era: 'legacy',
            method: 'initialize',
            ...(proc?.pid !== undefined && { process: { pid: proc.pid, rssBytes: null } }),
          });
          const client = clientName(params.clientInfo);
          session = this.#table.open(row, { transport, server: server!, process: proc, pending, client }, 1);
          if (!session) return;
          call.sessionId = id;
          call.client = client;
          if (proc) {
            proc.useLogger(this.#log.child({ sessionId: id }));
            proc.assignSession(id);
            // Its process exited: the session is over (the transport is closed by #closeEnded).
            proc.onProcessExit(() => void this.#table.end(id, { reason: 'process-exit', byPeer: false }));
            proc.onOverflow((o) => void this.#table.end(id, { reason: o.reason, byPeer: false }));
          }
          // Closed while the SDK was taking this initialize: ended at once, not left behind.
          if (this.#table.closing) void this.#table.end(id, { reason: 'shutdown', byPeer: false });
        },
        // DELETE: the transport closes itself right after this.
        (id) => void this.#table.end(id, { reason: 'delete', byPeer: true }),
      );
      // Set before connect(): the SDK chains its own handler after ours.
      transport.onclose = () => {
        if (transport.sessionId) void this.#table.end(transport.sessionId, { reason: 'close', byPeer: true });
      };
      transport.onerror = (err) => this.#log.debug({ err: err.message }, 'MCP transport error');
      await server.connect(transport as never);
      // Closed while its server (a process) was starting: it is closed below, not made a session.
      if (this.#table.closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
      tapResponses(transport, (m) => answer(pending, m, this.#o.requests));
      expect(pending, call);
      res.on('close', () => {
        forget(pending, call);
        if (session) this.#table.settle(session);
      });
      proc?.watch(res);
      await transport.handleRequest(req, res, a.body?.parsed);
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
  async existing(a: Arrival): Promise<void> {
    const { req, res, call } = a;
    const sid = a.sessionId;
    if (sid === undefined) return jsonRpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    const session = this.#table.get(sid);
    if (!session) return jsonRpcError(res, 404, -32001, 'Session not found');
    const proc = session.data.process;
    if (proc && a.method === 'POST' && !proc.accepting) {
      // Its process has not read what it was sent (busy, hung): queue no more (see
      // command/bridge-flow.ts).
      res.setHeader('Retry-After', String(this.#o.retryAfterSeconds ?? 5));
      return jsonRpcError(res, 503, -32000, 'The MCP server process is not reading its input; retry later');
    }
    proc?.watch(res);
    const done = this.#table.request(session, call?.method === undefined ? undefined : boundText(call.method, METHOD_MAX), a.method === 'GET');
    if (call) {
      call.sessionId = sid;
      call.client = session.data.client;
      expect(session.data.pending, call);
    }
    res.on('close', () => {
      if (call) forget(session.data.pending, call);
      done();
    });
    try {
      await session.data.transport.handleRequest(req, res, a.body?.parsed);
    } catch (err) {
      this.#log.error({ err, sessionId: sid }, 'MCP request failed');
      jsonRpcError(res, 500, -32603, 'Internal error');
    }
  }

  /**
   * Closes the server (and transport) of an ended session, unless the client's DELETE or the
   * transport's own close ended it; a session's own process (`--command`) ends with its
   * session however that ended, and holds the session's slot until it has exited.
   */
  async #closeEnded(s: Session, end: SessionEnd): Promise<void> {
    const own = s.data.process !== undefined;
    if (end.byPeer && !own) return;
    if (own) this.#exiting += 1;
    try {
      await s.data.server.close().catch((err: Error) => this.#log.warn({ err: err.message, sessionId: s.id }, 'closing a session failed'));
    } finally {
      if (own) this.#exiting -= 1;
    }
  }
}

/** Why the SDK's transport would refuse this `initialize` POST (its status, code and message), or undefined. */
function initializeRefusal(req: http.IncomingMessage, body: Record<string, unknown>): { status: number; code: number; message: string } | undefined {
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

/** A response of the session's server passed: it settles the operation of its id. */
function answer(pending: Map<JsonRpcId, PendingOperation>, m: { id: JsonRpcId }, requests: RequestObserver | undefined): void {
  const op = pending.get(m.id);
  if (!op) return;
  pending.delete(m.id);
  settle(op, m, requests);
}
