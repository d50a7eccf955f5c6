/**
 * The MCP endpoint of the child: `/mcp` on one HTTP server, serving both protocol eras (see `ERAS`
 * in shared/snapshot.ts). Legacy requests (sessions) go to {@link LegacySessions}; modern ones
 * (2026-07-28, sessionless) to {@link ModernLeg} when the backend is on SDK v2, their clients
 * listed by {@link ModernClients}. A backend on SDK v1 is legacy only: a modern request gets the
 * legacy 400 and a negotiating client falls back to `initialize`. Every JSON-RPC request is timed
 * and judged for the {@link OperationRecorder} (see operation-tap.ts). The Host check and the body
 * limits stand in front of both eras.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { classifyInboundRequest } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { McpEndpoint } from '../../../shared/snapshot.js';
import { admitBody, BodyBudget, cutOffPast } from '../../endpoint/body-budget.js';
import { clientAddress } from '../../sessions/client-fields.js';
import { EndpointLifecycle } from '../../endpoint/endpoint-lifecycle.js';
import { httpLimits, type HttpLimits } from '../../endpoint/http-limits.js';
import { jsonDepthLimit } from '../../endpoint/json-depth.js';
import { jsonRpcError, jsonRpcErrorHandler } from '../../endpoint/json-rpc-error.js';
import { listenMcp, looksModern, MCP_ENDPOINT, mcpHostCheck, servedModern } from '../../endpoint/mcp-http.js';
import { LegacySessions } from './legacy-sessions.js';
import type { ServerSource } from './server-source.js';
import type { Endpoint, EndpointDeps } from '../../endpoint/endpoint.js';
import { ModernCallers, type ModernRequest } from './modern-callers.js';
import { ModernClients } from '../../sessions/modern-clients.js';
import { ModernLeg } from './modern-leg.js';
import { outcomeOf, type OperationRecorder } from '../../operations/operation-recorder.js';
import { arrive, finish, readBody, type HttpCall } from '../../operations/operation-tap.js';
import type { SessionRegistry } from '../../sessions/session-registry.js';

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
      clientIp: (req) => this.#clientIp(req),
      clock: options.clock,
      sweepIntervalMs: options.sweepIntervalMs,
      retryAfterSeconds: options.retryAfterSeconds,
      goneGraceMs: options.goneGraceMs,
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

  #app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('trust proxy', this.#o.trustProxy);
    const hostCheck = mcpHostCheck(this.#o.host, this.#o.allowedHosts, this.#log);
    if (hostCheck) app.use(hostCheck);
    // An initialize comes before any session: it gets a small body, and holds a session slot
    // while its body is read (a slow body must not slip past --max-sessions). Only a session
    // that exists may send a large one: an unknown id gets 404 before its body is read. A
    // request that looks modern takes no slot (the legacy leg checks its slot after the body,
    // in case it turns out to be an initialize), and only one of a version this backend
    // serves may send a large body. Every body also takes its share of the child's budget
    // before it is read.
    const initJson = express.json({ limit: this.#limits.initializeBodyBytes });
    const sessionJson = express.json({ limit: this.#limits.sessionBodyBytes });
    const read = (limit: number, parser: RequestHandler): RequestHandler => (req, res, next) => {
      if (!admitBody(req, res, limit, this.#budget)) return;
      // Only a body the parser reads (JSON): any other is left unread for the handler to refuse.
      if (req.is('application/json')) cutOffPast(req, res, limit);
      parser(req, res, next);
    };
    const readInit = read(this.#limits.initializeBodyBytes, initJson);
    const readSession = read(this.#limits.sessionBodyBytes, sessionJson);
    const json: RequestHandler = (req, res, next) => {
      const sid = req.headers['mcp-session-id'];
      if (typeof sid !== 'string') return this.#servedModern(req) ? readSession(req, res, next) : readInit(req, res, next);
      if (!this.#legacy.has(sid)) return jsonRpcError(res, 404, -32001, 'Session not found');
      return readSession(req, res, next);
    };
    const admit: RequestHandler = (req, res, next) => {
      if (typeof req.headers['mcp-session-id'] === 'string' || looksModern(req)) return next();
      this.#legacy.admit(req, res, next);
    };
    app.post(MCP_ENDPOINT, (req, res, next) => this.#arrive(res, next), admit, json, jsonDepthLimit(), (req, res) => this.#post(req, res));
    app.get(MCP_ENDPOINT, json, (req, res) => this.#legacy.existing(req, res));
    app.delete(MCP_ENDPOINT, json, (req, res) => this.#legacy.existing(req, res));
    app.all(MCP_ENDPOINT, (_req, res) => {
      res.set('Allow', 'GET, POST, DELETE');
      jsonRpcError(res, 405, -32000, 'Method not allowed');
    });
    app.use(jsonRpcErrorHandler(this.#log));
    return app;
  }

  /** A sessionless POST of a modern version this backend serves: a session-sized body, no slot. */
  #servedModern(req: Request): boolean {
    return servedModern(req, this.#modern !== undefined);
  }

  #clientIp(req: Request): string {
    return clientAddress(this.#o.trustProxy !== false ? req.ip : req.socket.remoteAddress);
  }

  /** A POST came: its operations are timed from now to the close of its response. */
  #arrive(res: Response, next: NextFunction): void {
    const recorder = this.#o.recorder;
    if (recorder) {
      const call = arrive();
      res.locals.call = call;
      res.once('close', () => finish(call, res.statusCode, recorder));
    }
    next();
  }

  async #post(req: Request, res: Response): Promise<void> {
    const call: HttpCall = (res.locals.call as HttpCall | undefined) ?? arrive();
    readBody(call, req.body);
    // A request of a session is legacy whatever it says; else the SDK's own classifier decides
    // (synchronous, on the parsed body). A POST without a JSON body is legacy: today's 400.
    if (this.#modern && typeof req.headers['mcp-session-id'] !== 'string' && req.body !== undefined) {
      const route = classifyInboundRequest({
        httpMethod: 'POST',
        body: req.body,
        protocolVersionHeader: req.get('mcp-protocol-version'),
        mcpMethodHeader: req.get('mcp-method'),
        mcpNameHeader: req.get('mcp-name'),
      });
      // A ladder rejection (`reject`: no clientInfo, a header mismatch, an unsupported version)
      // is answered by the modern handler too, but lists no client: a client that falls back
      // to initialize after it would otherwise show twice.
      if (route.kind !== 'legacy') return this.#serveModern(this.#modern, req, res, call, route.kind === 'modern');
    }
    return this.#legacy.post(req, res, call);
  }

  async #serveModern(leg: ModernLeg, req: Request, res: Response, call: HttpCall, listed: boolean): Promise<void> {
    const client = listed && this.#clients.arrive({
      body: req.body,
      clientIP: this.#clientIp(req),
      userAgent: req.headers['user-agent'],
      protocolVersion: req.get('mcp-protocol-version'),
      method: call.method,
    }) || undefined;
    if (client) res.once('close', () => this.#clients.leave(client));
    // A modern POST carries one message (a batch is legacy): its operation, if it is a request.
    const op = call.ops?.[0];
    const request: ModernRequest = {
      connectionId: client?.id ?? null,
      onResponse: (m) => {
        if (op) op.outcome = outcomeOf(m);
      },
    };
    if (typeof req.body === 'object' && req.body !== null) this.#callers.arrive(req.body as object, request);
    try {
      await leg.serve(req, res);
    } catch (err) {
      this.#log.error({ err }, 'modern MCP request failed');
      jsonRpcError(res, 500, -32603, 'Internal error');
    }
  }
}
