/**
 * The MCP endpoint of the child in `--upstream` mode: a reverse proxy at `/mcp`
 * in front of any Streamable HTTP MCP server, either era. Every request is forwarded as it came
 * (bytes unchanged, bounded by the same body limits as a hosted server) and its answer streamed
 * back; what passes is read to record what a hosted server would: legacy sessions
 * ({@link UpstreamSessions}), modern clients ({@link ModernClients}), `lastMethod`, and every
 * operation with its outcome read from the JSON or SSE answer ({@link responseReader}).
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import type { Connection, McpEndpoint } from '../../../shared/snapshot.js';
import { BodyBudget } from '../../endpoint/body-budget.js';
import { rawBodyReader } from '../../endpoint/body-readers.js';
import type { Endpoint, EndpointDeps } from '../../endpoint/endpoint.js';
import { EndpointLifecycle } from '../../endpoint/endpoint-lifecycle.js';
import { frontDoor, type Arrival } from '../../endpoint/front-door.js';
import { httpLimits, type HttpLimits } from '../../endpoint/http-limits.js';
import { jsonRpcError } from '../../endpoint/json-rpc-error.js';
import { listenMcp } from '../../endpoint/mcp-http.js';
import { refuseBody } from '../../endpoint/read-body.js';
import { METHOD_MAX } from '../../operations/operation-recorder.js';
import { clientName, settle } from '../../operations/operation-tap.js';
import { boundText } from '../../sessions/client-fields.js';
import { connectionRow } from '../../sessions/connection-row.js';
import { CLIENT_INFO_META_KEY, ModernClients } from '../../sessions/modern-clients.js';
import { endToEndListed } from './hop-headers.js';
import { PendingById } from './pending-by-id.js';
import { responseReader } from './response-reader.js';
import { listableSessionId } from './session-id.js';
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
   * The endpoint, through the front door (server/endpoint/front-door.ts) on bare `node:http`:
   * on a proxy's path every microsecond is paid on top of the upstream's. A POST's body is read
   * whole (the bytes are forwarded as they came); GET and DELETE are streamed as they come.
   */
  #app(): http.RequestListener {
    return frontDoor({
      host: this.#o.host,
      allowedHosts: this.#o.allowedHosts,
      trustProxy: this.#o.trustProxy,
      logger: this.#log,
      requests: this.#o.requests,
      limits: this.#limits,
      budget: this.#budget,
      sessions: this.#sessions,
      // The upstream's eras are not known here: the modern versions the child reads are the test of a large body.
      servesModern: true,
      reader: rawBodyReader,
      readsBody: (method) => method === 'POST',
      screen: (req, res) => this.#screen(req, res),
      serve: (a) => (a.method === 'POST' ? this.#post(a) : this.#other(a)),
    });
  }

  /** Refused before anything is counted: what the upstream would not see as it came, and sessions ended on request. */
  #screen(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const listed = endToEndListed(req.headers);
    if (listed) {
      refuseBody(res, (r) => jsonRpcError(r, 400, -32600, `Bad Request: Connection may not list ${boundText(listed, 64)}`));
      return true;
    }
    const sid = req.headers['mcp-session-id'];
    // Ended on request: gone for the client as a hosted session is (MCP spec: 404, start anew).
    if (typeof sid === 'string' && this.#sessions.terminated(sid)) {
      jsonRpcError(res, 404, -32001, 'Session not found');
      return true;
    }
    return false;
  }

  #fail(res: http.ServerResponse): (status: number, message: string) => void {
    return (status, message) => jsonRpcError(res, status, -32000, message);
  }

  /** A POST, admitted and read by the front door: forwarded as it came, its answer read for what it records. */
  async #post(a: Arrival): Promise<void> {
    const { req, res } = a;
    const call = a.call!;
    const method = call.method === undefined ? undefined : boundText(call.method, METHOD_MAX);
    // Outcomes from the answer, by request id (each of a repeated one): JSON or SSE alike.
    const ops = new PendingById(call.ops);
    const onMessage = (m: Record<string, unknown>) => {
      const id = m.id as string | number | undefined;
      if (id === undefined || (m.result === undefined && m.error === undefined)) return;
      const op = ops.take(id);
      if (op) settle(op, m, this.#o.requests);
    };
    let answer: ExchangeHooks = {};
    if (a.sessionId !== undefined) {
      answer = this.#sessionAnswer(a, a.sessionId, method);
    } else if (a.route === 'modern') {
      const body = a.body?.parsed as { params?: { _meta?: Record<string, unknown> | null } } | undefined;
      const client = this.#clients.arrive({ body, clientIP: a.clientIp(), userAgent: req.headers['user-agent'], protocolVersion: a.header('mcp-protocol-version'), method: call.method });
      if (client) res.once('close', () => this.#clients.leave(client));
      call.sessionId = client?.id ?? null;
      call.client = clientName(body?.params?._meta?.[CLIENT_INFO_META_KEY]);
    } else {
      answer = { onResponse: this.#initializeAnswer(a) };
    }
    let reader: ReturnType<typeof responseReader>;
    await this.#o.upstream.forward(req, res, a.body!.raw!, {
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
  #sessionAnswer(a: Arrival, sid: string, method: string | undefined): ExchangeHooks {
    const slot = a.slot;
    a.res.once('close', this.#sessions.request(sid, method));
    const listed = (): void => {
      if (!a.call || !this.#sessions.has(sid)) return;
      a.call.sessionId = sid;
      a.call.client = this.#sessions.client(sid);
    };
    listed();
    const gone = sessionGoneReader(() => this.#sessions.end(sid, 'upstream'));
    return {
      ...gone,
      onResponse: (status, headers) => {
        gone.onResponse(status, headers);
        if (slot && status >= 200 && status < 300 && status !== 202) {
          // A session the upstream issued and knows, and we do not (this child restarted): listed from now.
          this.#sessions.open(this.#connection(a, sid, null, a.header('mcp-protocol-version'), method ?? null), slot);
          listed();
        }
      },
    };
  }

  /** An `initialize` (or what claims no session): a session when the upstream answers one. */
  #initializeAnswer(a: Arrival): (status: number, headers: http.IncomingHttpHeaders) => void {
    return (status, headers) => {
      const sid = headers['mcp-session-id'];
      const body = a.body?.parsed as { method?: unknown; params?: { clientInfo?: unknown; protocolVersion?: unknown } } | undefined;
      if (typeof sid !== 'string' || !listableSessionId(sid) || status < 200 || status >= 300 || body?.method !== 'initialize') return;
      const client = clientName(body.params?.clientInfo);
      this.#sessions.open(this.#connection(a, sid, body.params?.clientInfo, body.params?.protocolVersion, 'initialize'), a.slot, client);
      // Listed (not an id some other row holds): the initialize is a request of that session.
      if (a.call && this.#sessions.has(sid)) {
        a.call.sessionId = sid;
        a.call.client = client;
      }
    };
  }

  #connection(a: Arrival, sid: string, clientInfo: unknown, protocolVersion: unknown, method: string | null): Connection {
    return connectionRow({ sessionId: sid, clientIP: a.clientIp(), userAgent: a.req.headers['user-agent'], clientInfo, protocolVersion, era: 'legacy', method });
  }

  /** GET (the session's stream) and DELETE: forwarded; their answers end sessions as they say. */
  async #other(a: Arrival): Promise<void> {
    const { req, res } = a;
    const sid = a.sessionId;
    if (sid === undefined) {
      await this.#o.upstream.forward(req, res, undefined, {}, this.#fail(res));
      return;
    }
    const isGet = a.method === 'GET';
    if (isGet) res.once('close', this.#sessions.request(sid, undefined, true));
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
