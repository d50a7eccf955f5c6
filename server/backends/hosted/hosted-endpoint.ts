/**
 * The MCP endpoint of a hosted server (built-in, `--entry`, `--command`): `/mcp` on one HTTP
 * server, serving both protocol eras (see `ERAS` in shared/snapshot.ts). Every request comes
 * through the front door (server/endpoint/front-door.ts: Host check, admission, body, timing,
 * era); then legacy requests (sessions) go to {@link LegacySessions}, modern ones (2026-07-28,
 * sessionless) to {@link ModernLeg} when the backend is on SDK v2, their clients listed by
 * {@link ModernClients}. A backend on SDK v1 is legacy only: a modern request gets the legacy
 * 400 and a negotiating client falls back to `initialize`.
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import type { McpEndpoint } from '../../../shared/snapshot.js';
import { BodyBudget } from '../../endpoint/body-budget.js';
import { jsonBodyReader } from '../../endpoint/body-readers.js';
import type { Endpoint, EndpointDeps } from '../../endpoint/endpoint.js';
import { EndpointLifecycle } from '../../endpoint/endpoint-lifecycle.js';
import { frontDoor, type Arrival } from '../../endpoint/front-door.js';
import { httpLimits, type HttpLimits } from '../../endpoint/http-limits.js';
import { jsonRpcError } from '../../endpoint/json-rpc-error.js';
import { listenMcp } from '../../endpoint/mcp-http.js';
import { clientName, settle } from '../../operations/operation-tap.js';
import { CLIENT_INFO_META_KEY, ModernClients } from '../../sessions/modern-clients.js';
import { LegacySessions } from './legacy-sessions.js';
import { ModernCallers, type ModernRequest } from './modern-callers.js';
import { ModernLeg } from './modern-leg.js';
import type { ServerSource } from './server-source.js';

export { GONE_GRACE_MS } from './legacy-sessions.js';

export { MCP_ENDPOINT } from '../../endpoint/mcp-http.js';

/** Default `--client-window-ms`. */
const CLIENT_WINDOW_MS = 60_000;

/** Options of an {@link McpHost}. */
export interface McpHostOptions extends EndpointDeps {
  /** Where each session's or modern request's server comes from, and the eras they serve. */
  servers: ServerSource;
  /** Links modern requests to their clients, for the built-in tools. Default a private one. */
  callers?: ModernCallers;
  /** Seconds a refused `initialize` is told to wait. Default 5. */
  retryAfterSeconds?: number;
}

/**
 * The child's MCP endpoint: owns its HTTP server, its sessions and modern clients. `start()` once,
 * `close()` once (the same promise); a close() during start() makes start() reject, and leaves
 * nothing listening or running.
 */
export class McpHost implements Endpoint {
  readonly #o: McpHostOptions;
  readonly #log: Logger;
  readonly #limits: HttpLimits;
  /** The child's one budget of buffered request bytes (it serves one endpoint). */
  readonly #budget: BodyBudget;
  readonly #legacy: LegacySessions;
  readonly #modern: ModernLeg | undefined;
  readonly #clients: ModernClients;
  readonly #callers: ModernCallers;
  readonly #life = new EndpointLifecycle('McpHost');
  #endpoint: McpEndpoint | undefined;

  constructor(options: McpHostOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#limits = httpLimits(options.maxSessions, options.limits);
    this.#budget = new BodyBudget(this.#limits.bufferedBodyBytes);
    this.#callers = options.callers ?? new ModernCallers();
    this.#legacy = new LegacySessions({
      registry: options.registry,
      servers: options.servers,
      logger: options.logger,
      maxSessions: options.maxSessions,
      sessionIdleMs: options.sessionIdleMs,
      clock: options.clock,
      sweepIntervalMs: options.sweepIntervalMs,
      retryAfterSeconds: options.retryAfterSeconds,
      goneGraceMs: options.goneGraceMs,
      requests: options.requests,
    });
    this.#modern = options.servers.eras.has('modern') ? new ModernLeg({ servers: options.servers, callers: this.#callers, logger: options.logger }) : undefined;
    this.#clients = new ModernClients({ registry: options.registry, windowMs: options.clientWindowMs ?? CLIENT_WINDOW_MS, max: options.maxSessions, logger: options.logger, clock: options.clock });
  }

  /** Where clients reach the server, once started. */
  get endpoint(): McpEndpoint | undefined {
    return this.#endpoint;
  }

  /**
   * Ends legacy session `sessionId` on request (reason `terminated`); false when
   * no such session is open (a modern client has none).
   */
  terminate(sessionId: string, by: string): boolean {
    return this.#legacy.terminate(sessionId, by);
  }

  /**
   * Binds the port; resolves with the endpoint (the real port when 0 was asked). Throws when
   * called twice or after close(); a close() that comes before it resolves makes it reject,
   * once the port is closed again (server/endpoint/endpoint-lifecycle.ts).
   */
  start(): Promise<McpEndpoint> {
    return this.#life.start({
      listen: () => listenMcp(this.#app(), this.#o.host, this.#o.port, this.#limits, this.#log),
      serving: () => {
        this.#legacy.start();
        this.#clients.start();
      },
    }).then((endpoint) => (this.#endpoint = endpoint));
  }

  /**
   * Ends every session and modern client (reason `shutdown`) and closes the port, also while
   * start() is binding it. The same promise every time.
   */
  close(): Promise<void> {
    return this.#life.close(async () => {
      // The modern handler ends its open exchanges and listen streams gracefully.
      await Promise.all([this.#legacy.close(), this.#modern?.close()]);
      this.#clients.close();
    });
  }

  /** The endpoint: everything up to the era through the front door, then a leg. */
  #app(): http.RequestListener {
    return frontDoor({
      host: this.#o.host,
      allowedHosts: this.#o.allowedHosts,
      trustProxy: this.#o.trustProxy,
      logger: this.#log,
      requests: this.#o.requests,
      limits: this.#limits,
      budget: this.#budget,
      sessions: this.#legacy,
      servesModern: this.#modern !== undefined,
      reader: jsonBodyReader(this.#log),
      readsBody: () => true,
      retryAfterSeconds: this.#o.retryAfterSeconds,
      serve: (a) => this.#serve(a),
    });
  }

  #serve(a: Arrival): Promise<void> {
    if (a.method !== 'POST') return this.#legacy.existing(a);
    // A ladder rejection is answered by the modern handler too, but lists no client: a client
    // that falls back to initialize after it would otherwise show twice.
    if (this.#modern && (a.route === 'modern' || a.route === 'rejected')) return this.#serveModern(this.#modern, a, a.route === 'modern');
    return this.#legacy.post(a);
  }

  async #serveModern(leg: ModernLeg, a: Arrival, listed: boolean): Promise<void> {
    const { req, res, call } = a;
    const body = a.body?.parsed;
    const client = listed && this.#clients.arrive({
      body,
      clientIP: a.clientIp(),
      userAgent: req.headers['user-agent'],
      protocolVersion: a.header('mcp-protocol-version'),
      method: call?.method,
    }) || undefined;
    if (client) res.once('close', () => this.#clients.leave(client));
    if (call) {
      call.sessionId = client?.id ?? null;
      const meta = (body as { params?: { _meta?: Record<string, unknown> | null } } | undefined)?.params?._meta;
      call.client = clientName(meta?.[CLIENT_INFO_META_KEY]);
    }
    // A modern POST carries one message (a batch is legacy): its operation, if it is a request.
    const op = call?.ops?.[0];
    const request: ModernRequest = {
      connectionId: client?.id ?? null,
      onResponse: (m) => {
        if (op) settle(op, m, this.#o.requests);
      },
    };
    if (typeof body === 'object' && body !== null) this.#callers.arrive(body, request);
    try {
      await leg.serve(req, res, body);
    } catch (err) {
      this.#log.error({ err }, 'modern MCP request failed');
      jsonRpcError(res, 500, -32603, 'Internal error');
    }
  }
}
