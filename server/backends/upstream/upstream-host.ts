/**
 * The MCP endpoint of the child in `--upstream` mode: a reverse proxy at `/mcp`
 * in front of any Streamable HTTP MCP server, either era. Every request is forwarded as it came
 * (bytes unchanged, bounded by the same body limits as a hosted server) and its answer streamed
 * back; what passes is read to record what a hosted server would: legacy sessions
 * ({@link UpstreamSessions}), modern clients ({@link ModernClients}), `lastMethod`, and every
 * operation with its outcome read from the JSON or SSE answer ({@link responseReader}).
 */
import type http from 'node:http';
import { classifyInboundRequest } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { McpEndpoint } from '../../../shared/snapshot.js';
import { admitBody, BodyBudget } from '../../endpoint/body-budget.js';
import { boundClientInfo, boundProtocolVersion, boundText, boundUserAgent, clientAddress } from '../../sessions/client-fields.js';
import { EndpointLifecycle } from '../../endpoint/endpoint-lifecycle.js';
import { httpLimits, type HttpLimits } from '../../endpoint/http-limits.js';
import { jsonRpcError } from '../../endpoint/json-rpc-error.js';
import { forwardedIp } from '../../endpoint/forwarded-ip.js';
import { endToEndListed } from './hop-headers.js';
import { listenMcp, looksModern, MCP_ENDPOINT, mcpHostCheck, servedModern } from '../../endpoint/mcp-http.js';
import type { Endpoint, EndpointDeps } from '../../endpoint/endpoint.js';
import { ModernClients } from '../../sessions/modern-clients.js';
import { METHOD_MAX, outcomeOf, type OperationRecorder } from '../../operations/operation-recorder.js';
import { arrive, finish, readBody as readOperations, type HttpCall } from '../../operations/operation-tap.js';
import { listableSessionId } from './session-id.js';
import type { SessionRegistry } from '../../sessions/session-registry.js';
import type { ReleaseSlot } from '../../sessions/session-slots.js';
import { PendingById } from './pending-by-id.js';
import { parseBody, readBody, refuseBody } from './read-body.js';
import { responseReader } from './response-reader.js';
import { sessionGoneReader } from './session-gone.js';
import type { ExchangeHooks, Upstream } from './upstream.js';
import { UpstreamSessions } from './upstream-sessions.js';

/** Options of an {@link UpstreamHost}. */
export interface UpstreamHostOptions extends EndpointDeps {
  /** The server every request is forwarded to (its backend's: closed by it, after this). */
  upstream: Upstream;
  /** Where the ids the upstream issued are remembered; default `serverDir`, else in memory only. */
  sessionsDir?: string;
}

/** A request header given once (a repeated one is not believed). */
function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** The proxy endpoint: `start()`/`close()` with the rules of `McpHost` (server/backends/hosted/hosted-endpoint.ts). */
export class UpstreamHost implements Endpoint {
  readonly #o: UpstreamHostOptions;
  readonly #log: Logger;
  readonly #limits: HttpLimits;
  /** The child's one budget of buffered request bytes (it serves one endpoint). */
  readonly #budget: BodyBudget;
  readonly #sessions: UpstreamSessions;
  readonly #clients: ModernClients;
  readonly #life = new EndpointLifecycle('UpstreamHost');
  #endpoint: McpEndpoint | undefined;

  constructor(o: UpstreamHostOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#limits = httpLimits(o.maxSessions, o.limits);
    this.#budget = new BodyBudget(this.#limits.bufferedBodyBytes);
    this.#sessions = new UpstreamSessions({ registry: o.registry, upstream: o.upstream, logger: o.logger, maxSessions: o.maxSessions, sessionIdleMs: o.sessionIdleMs, clock: o.clock, sweepIntervalMs: o.sweepIntervalMs, goneGraceMs: o.goneGraceMs, dir: o.sessionsDir ?? o.serverDir });
    this.#clients = new ModernClients({ registry: o.registry, windowMs: o.clientWindowMs ?? 60_000, max: o.maxSessions, logger: o.logger, clock: o.clock });
    o.upstream.on('hookError', (err) => this.#log.error({ err }, 'recording a proxied exchange failed'));
  }

  get endpoint(): McpEndpoint | undefined {
    return this.#endpoint;
  }

  /**
   * Ends proxied session `sessionId` on request (reason `terminated`), upstream
   * too; false when no such session is open (a modern client has none).
   */
  terminate(sessionId: string, by: string): boolean {
    return this.#sessions.terminate(sessionId, by);
  }

  /** Reads the issued ids, then binds the port: as `McpHost.start()` (server/endpoint/endpoint-lifecycle.ts). */
  start(): Promise<McpEndpoint> {
    return this.#life.start({
      prepare: () => this.#sessions.start(),
      listen: () => listenMcp(this.#app(), this.#o.host, this.#o.port, this.#limits, this.#log),
      serving: () => this.#clients.start(),
    }).then((endpoint) => (this.#endpoint = endpoint));
  }

  /**
   * Ends every session here and closes the port (also while start() is under way); the
   * upstream's sockets are its backend's to close, after this. The same promise every time.
   */
  close(): Promise<void> {
    return this.#life.close(async () => {
      this.#clients.close();
      await this.#sessions.close();
    });
  }

  /**
   * The endpoint, on bare `node:http` (no framework: on a proxy's path every microsecond is
   * paid on top of the upstream's): Host check, `/mcp` only, POST/GET/DELETE.
   */
  #app(): http.RequestListener {
    const hostCheck = mcpHostCheck(this.#o.host, this.#o.allowedHosts, this.#log);
    const route = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const q = req.url?.indexOf('?') ?? -1;
      const path = q === -1 ? req.url : req.url!.slice(0, q);
      if (path !== MCP_ENDPOINT) return jsonRpcError(res, 404, -32000, 'Not found');
      const listed = endToEndListed(req.headers);
      // Refused before anything is counted: the upstream would not see what we read.
      if (listed) return refuseBody(res, (r) => jsonRpcError(r, 400, -32600, `Bad Request: Connection may not list ${boundText(listed, 64)}`));
      const sid = req.headers['mcp-session-id'];
      // Ended on request: gone for the client as a hosted session is (MCP spec: 404, start anew).
      if (typeof sid === 'string' && this.#sessions.terminated(sid)) return jsonRpcError(res, 404, -32001, 'Session not found');
      if (req.method === 'POST') return void this.#receive(req, res).catch((err: unknown) => this.#failed(res, err));
      if (req.method === 'GET' || req.method === 'DELETE') return void this.#other(req, res).catch((err: unknown) => this.#failed(res, err));
      res.setHeader('Allow', 'GET, POST, DELETE');
      jsonRpcError(res, 405, -32000, 'Method not allowed');
    };
    return (req, res) => {
      try {
        if (hostCheck) hostCheck(req, res, () => route(req, res));
        else route(req, res);
      } catch (err) {
        this.#log.error({ err }, 'MCP request failed');
        jsonRpcError(res, 500, -32603, 'Internal error');
      }
    };
  }

  /** A request whose handling threw: logged, the client told, the process kept. */
  #failed(res: http.ServerResponse, err: unknown): void {
    this.#log.error({ err }, 'MCP request failed');
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal error');
    else res.destroy();
  }

  #clientIp(req: http.IncomingMessage): string {
    return clientAddress(forwardedIp(req, this.#o.trustProxy));
  }

  /**
   * Whether `sid` names a session the child holds, so that its requests may send a
   * session-sized body. An id it does not hold is "no session": 64 KiB.
   * The one place that decides it (adoption extends it).
   */
  #holdsSession(sid: string): boolean {
    return this.#sessions.has(sid);
  }

  /**
   * A POST: timed from arrival; its body read under the limits of a hosted server (an
   * `initialize` small and holding a session slot while it is read; a held session's or a
   * served modern request's larger; an unknown session id's small), and within the child's
   * budget of buffered bytes, then forwarded as it came.
   */
  async #receive(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const recorder = this.#o.recorder;
    const call = arrive();
    if (recorder) res.once('close', () => finish(call, res.statusCode, recorder));
    const sid = req.headers['mcp-session-id'];
    let limit = this.#limits.initializeBodyBytes;
    let release: ReleaseSlot | undefined;
    if (typeof sid === 'string') {
      if (this.#holdsSession(sid)) limit = this.#limits.sessionBodyBytes;
      else {
        // An id the upstream issued that this child does not list (it restarted): adopted only
        // with a slot, as an initialize is; any other id is forwarded, unlisted.
        // Not held yet: the small body limit.
        const adopt = this.#sessions.adoptionSlot(sid);
        if (adopt === 'full') return this.#full(res, 'adoption');
        if (adopt) res.once('close', (release = adopt));
      }
    } else if (looksModern(req)) {
      // No slot, as hosted. The upstream's eras are not known here: the modern versions the
      // child reads are the test of a large body.
      if (servedModern(req, true)) limit = this.#limits.sessionBodyBytes;
    } else {
      if (this.#sessions.closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
      release = this.#sessions.slots.reserve();
      if (!release) return this.#full(res, 'initialize');
      res.once('close', release);
    }
    if (!admitBody(req, res, limit, this.#budget)) return;
    const body = await readBody(req, limit);
    if (body === 'aborted') return;
    if (body === 'too-large') return refuseBody(res, (r) => jsonRpcError(r, 413, -32000, 'Request body too large'));
    await this.#post(req, res, body, call, release);
  }

  /** `--max-sessions` reached: 503 with Retry-After, as a hosted server answers. */
  #full(res: http.ServerResponse, what: 'initialize' | 'adoption'): void {
    res.setHeader('Retry-After', '5');
    this.#log.warn({ maxSessions: this.#o.maxSessions }, `session limit reached; ${what} refused`);
    jsonRpcError(res, 503, -32000, `Too many sessions (limit ${this.#o.maxSessions}); retry later`);
  }

  #fail(res: http.ServerResponse): (status: number, message: string) => void {
    return (status, message) => jsonRpcError(res, status, -32000, message);
  }

  async #post(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer, call: HttpCall, slot: ReleaseSlot | undefined): Promise<void> {
    const parsed = parseBody(raw);
    readOperations(call, parsed);
    const method = call.method === undefined ? undefined : boundText(call.method, METHOD_MAX);
    // Outcomes from the answer, by request id (each of a repeated one): JSON or SSE alike.
    const ops = new PendingById(call.ops);
    const onMessage = (m: Record<string, unknown>) => {
      const id = m.id as string | number | undefined;
      if (id === undefined || (m.result === undefined && m.error === undefined)) return;
      const op = ops.take(id);
      if (op) op.outcome = outcomeOf(m as { id: string | number });
    };
    const sid = req.headers['mcp-session-id'];
    let answer: ExchangeHooks = {};
    if (typeof sid === 'string') {
      answer = this.#sessionAnswer(req, sid, method, res, slot);
    } else if (parsed !== undefined && classifyInboundRequest({ httpMethod: 'POST', body: parsed, protocolVersionHeader: header(req, 'mcp-protocol-version'), mcpMethodHeader: header(req, 'mcp-method'), mcpNameHeader: header(req, 'mcp-name') }).kind === 'modern') {
      const client = this.#clients.arrive({ body: parsed, clientIP: this.#clientIp(req), userAgent: req.headers['user-agent'], protocolVersion: header(req, 'mcp-protocol-version'), method: call.method });
      if (client) res.once('close', () => this.#clients.leave(client));
    } else {
      answer = { onResponse: this.#initializeAnswer(req, parsed, slot) };
    }
    let reader: ReturnType<typeof responseReader>;
    await this.#o.upstream.forward(req, res, raw, {
      onResponse: (status, headers) => {
        answer.onResponse?.(status, headers);
        reader = ops.size > 0 ? responseReader(headers['content-type'], onMessage) : undefined;
      },
      onChunk: (chunk) => {
        answer.onChunk?.(chunk);
        reader?.push(chunk);
      },
      onEnd: () => {
        answer.onEnd?.();
        reader?.end();
      },
    }, this.#fail(res));
  }

  /**
   * A request of session `sid`: counted; the upstream's "gone" ends it; with `slot` (an id it
   * issued, not listed here), its answer to a request adopts it, never a 202 (the answer to
   * notifications or responses, which a stateless upstream gives whatever the id).
   */
  #sessionAnswer(req: http.IncomingMessage, sid: string, method: string | undefined, res: http.ServerResponse, slot: ReleaseSlot | undefined): ExchangeHooks {
    const known = this.#sessions.has(sid);
    if (known) {
      const done = this.#sessions.request(sid, method);
      res.once('close', done);
    }
    const gone = sessionGoneReader(() => this.#sessions.end(sid, 'upstream'));
    return {
      ...gone,
      onResponse: (status, headers) => {
        gone.onResponse(status, headers);
        if (slot && status >= 200 && status < 300 && status !== 202) {
          // A session the upstream issued and knows, and we do not (this child restarted): listed from now.
          this.#sessions.open(this.#connection(req, sid, null, header(req, 'mcp-protocol-version'), method ?? null), slot);
        }
      },
    };
  }

  /** An `initialize` (or what claims no session): a session when the upstream answers one. */
  #initializeAnswer(req: http.IncomingMessage, parsed: unknown, slot: ReleaseSlot | undefined): (status: number, headers: http.IncomingHttpHeaders) => void {
    return (status, headers) => {
      const sid = headers['mcp-session-id'];
      const body = parsed as { method?: unknown; params?: { clientInfo?: unknown; protocolVersion?: unknown } } | undefined;
      if (typeof sid !== 'string' || !listableSessionId(sid) || status < 200 || status >= 300 || body?.method !== 'initialize') return;
      this.#sessions.open(this.#connection(req, sid, body.params?.clientInfo, body.params?.protocolVersion, 'initialize'), slot);
    };
  }

  #connection(req: http.IncomingMessage, sid: string, clientInfo: unknown, protocolVersion: unknown, method: string | null) {
    const now = new Date().toISOString();
    return {
      sessionId: sid,
      clientIP: this.#clientIp(req),
      userAgent: boundUserAgent(req.headers['user-agent']),
      connectedAt: now,
      lastActivity: now,
      requestCount: 1,
      clientInfo: boundClientInfo(clientInfo),
      protocolVersion: boundProtocolVersion(protocolVersion),
      era: 'legacy' as const,
      lastMethod: method,
    };
  }

  /** GET (the session's stream) and DELETE: forwarded; their answers end sessions as they say. */
  async #other(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string') {
      await this.#o.upstream.forward(req, res, undefined, {}, this.#fail(res));
      return;
    }
    const known = this.#sessions.has(sid);
    const isGet = req.method === 'GET';
    if (known && isGet) {
      const done = this.#sessions.request(sid, undefined);
      res.once('close', () => {
        done();
        this.#sessions.streamEnded(sid);
      });
    }
    const gone = sessionGoneReader(() => this.#sessions.end(sid, 'upstream'));
    await this.#o.upstream.forward(req, res, undefined, {
      ...gone,
      onResponse: (status, headers) => {
        gone.onResponse(status, headers);
        if (!isGet && status >= 200 && status < 300) this.#sessions.end(sid, 'delete');
      },
    }, this.#fail(res));
  }
}
