/**
 * The one way into the child's MCP endpoint, whatever serves it (a server hosted here or the
 * `--upstream` proxy). Each request goes through these steps, in this order, here only:
 *   1. the Host check (DNS rebinding), the path `/mcp`, the endpoint's own screen;
 *   2. the method (POST, GET, DELETE; else 405), and for a POST its timing from now to the
 *      close of its response (server/operations/operation-tap.ts);
 *   3. admission before any byte of the body is read: a session the endpoint holds may send a
 *      session-sized body, an unknown one gets 404 (or the endpoint's choice), a POST without a
 *      session that may be an `initialize` holds a session slot (full: 503, Retry-After), a
 *      modern one of a served version takes no slot and a session-sized body;
 *   4. the body under that limit and a share of the child's budget (body-budget.ts), read by
 *      the endpoint's reader (body-readers.ts), then its operations;
 *   5. the era of a POST without a session, classified once by the SDK from the parsed body;
 *   6. the endpoint's `serve`, with everything above as one {@link Arrival}.
 * A throw anywhere is logged and answered 500 (or the connection cut, when the answer began):
 * the process serves on.
 */
import type http from 'node:http';
import { classifyInboundRequest } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { TrustProxy } from '../../shared/settings.js';
import { clientAddress } from '../sessions/client-fields.js';
import type { ReleaseSlot, SessionSlots } from '../sessions/session-slots.js';
import type { RequestObserver } from '../operations/finished-request.js';
import { arrive, finish, readBody as readOperations, type HttpCall } from '../operations/operation-tap.js';
import { admitBody, type BodyBudget } from './body-budget.js';
import type { BodyReader, ReadBody } from './body-readers.js';
import { forwardedIp } from './forwarded-ip.js';
import type { HttpLimits } from './http-limits.js';
import { answeredCode, jsonRpcError } from './json-rpc-error.js';
import { looksModern, MCP_ENDPOINT, mcpHostCheck, servedModern } from './mcp-http.js';

export type DoorMethod = 'POST' | 'GET' | 'DELETE';

/**
 * What a request is to its endpoint: `session` (it names one), `legacy` (a POST without a
 * session that is not modern, an `initialize` or not), `modern` (a sessionless request of a
 * version the SDK serves), `rejected` (one the SDK's modern ladder answers without serving it:
 * no clientInfo, a header mismatch, an unsupported version).
 */
export type Route = 'session' | 'legacy' | 'modern' | 'rejected';

/** A request that has come through the door. */
export interface Arrival {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly method: DoorMethod;
  /** Its `Mcp-Session-Id`, given once. */
  readonly sessionId: string | undefined;
  /** Whether the endpoint held that session when the request came. */
  readonly held: boolean;
  /** A session slot reserved for it (a possible `initialize`, an adoption), freed when its response closes, or earlier by the endpoint. */
  readonly slot: ReleaseSlot | undefined;
  /** Its body, when this endpoint reads the bodies of its method. */
  readonly body: ReadBody | undefined;
  /** A POST: timed from arrival, its operations read from the body. */
  readonly call: HttpCall | undefined;
  readonly route: Route;
  /** A request header given once (a repeated one is not believed). */
  header(name: string): string | undefined;
  /** The client's stored address (see `--trust-proxy`), worked out at most once. */
  clientIp(): string;
}

/**
 * What a request naming a session gets before its body is read: `held` (a session-sized body),
 * `unknown` (404, start anew), `unlisted` (served with the small body limit), `full` (503), or
 * a slot reserved to adopt it with.
 */
export type SessionAdmission = 'held' | 'unknown' | 'unlisted' | 'full' | ReleaseSlot;

/** The sessions of the endpoint, as far as the door needs them. */
export interface DoorSessions {
  admit(sessionId: string, method: DoorMethod): SessionAdmission;
  readonly slots: SessionSlots;
  /** Shutting down: a possible `initialize` gets 503. */
  readonly closing: boolean;
}

/** Options of {@link frontDoor}. */
export interface FrontDoorOptions {
  /** The bind address and `--allowed-hosts`, for the Host check. */
  host: string;
  allowedHosts?: readonly string[] | undefined;
  trustProxy: TrustProxy;
  logger: Logger;
  /** Told of every request that ended (and every `tools/list` result, by the endpoint's legs). Default none. */
  requests?: RequestObserver | undefined;
  limits: HttpLimits;
  /** The child's one budget of buffered request bytes. */
  budget: BodyBudget;
  sessions: DoorSessions;
  /** Whether the backend serves the modern era (a legacy-only one: every request is legacy). */
  servesModern: boolean;
  reader: BodyReader;
  /** Whether the bodies of requests of this method are read (the proxy streams GET and DELETE as they come). */
  readsBody: (method: DoorMethod) => boolean;
  /** Seconds a request refused for lack of a session slot is told to wait. Default 5. */
  retryAfterSeconds?: number | undefined;
  /** The endpoint's own refusals, before anything is counted: true when it answered. */
  screen?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  serve(arrival: Arrival): Promise<void>;
}

/** A request header given once (a repeated one is not believed). */
export function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** `--max-sessions` reached: 503 with Retry-After, and a warning. */
export function answerFull(res: http.ServerResponse, what: 'initialize' | 'adoption', max: number, retryAfter: string, log: Logger): void {
  res.setHeader('Retry-After', retryAfter);
  log.warn({ maxSessions: max }, `session limit reached; ${what} refused`);
  jsonRpcError(res, 503, -32000, `Too many sessions (limit ${max}); retry later`);
}

/** The request listener of an MCP endpoint: every request through the steps of the header. */
export function frontDoor(o: FrontDoorOptions): http.RequestListener {
  const log = o.logger;
  const hostCheck = mcpHostCheck(o.host, o.allowedHosts, log);
  const retryAfter = String(o.retryAfterSeconds ?? 5);

  const failed = (res: http.ServerResponse, err: unknown): void => {
    log.error({ err }, 'MCP request failed');
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal error');
    else res.destroy();
  };

  const full = (res: http.ServerResponse, what: 'initialize' | 'adoption'): void => answerFull(res, what, o.sessions.slots.max, retryAfter, log);

  const enter = async (req: http.IncomingMessage, res: http.ServerResponse, method: DoorMethod): Promise<void> => {
    // A POST's era before its body is classified: what its headers claim (for a refusal's FinishedRequest).
    const call = method === 'POST' ? arrive(looksModern(req) ? 'modern' : 'legacy') : undefined;
    const requests = o.requests;
    if (call && requests) res.once('close', () => finish(call, res.statusCode, answeredCode(res), requests));
    const sessionId = header(req, 'mcp-session-id');
    let limit = o.limits.initializeBodyBytes;
    let slot: ReleaseSlot | undefined;
    let held = false;
    if (sessionId !== undefined) {
      const admission = o.sessions.admit(sessionId, method);
      if (admission === 'unknown') return jsonRpcError(res, 404, -32001, 'Session not found');
      if (admission === 'full') return full(res, 'adoption');
      if (admission === 'held') {
        held = true;
        limit = o.limits.sessionBodyBytes;
      } else if (typeof admission === 'function') res.once('close', (slot = admission));
    } else if (method === 'POST') {
      if (looksModern(req)) {
        // No slot: a legacy-only backend full of sessions must still answer a modern probe 400,
        // so that the client falls back. Only a version the backend serves may send a large body.
        if (servedModern(req, o.servesModern)) limit = o.limits.sessionBodyBytes;
      } else {
        if (o.sessions.closing) return jsonRpcError(res, 503, -32000, 'Server is shutting down');
        slot = o.sessions.slots.reserve();
        if (!slot) return full(res, 'initialize');
        res.once('close', slot);
      }
    }
    let body: ReadBody | undefined;
    if (o.readsBody(method)) {
      if (!admitBody(req, res, limit, o.budget)) return;
      body = await o.reader(req, res, limit);
      if (!body) return;
    }
    const route = sessionId !== undefined ? 'session' : method === 'POST' && o.servesModern ? classify(req, body?.parsed) : 'legacy';
    if (call) {
      readOperations(call, body?.parsed);
      call.era = route === 'modern' || route === 'rejected' ? 'modern' : 'legacy';
    }
    let ip: string | undefined;
    await o.serve({
      req,
      res,
      method,
      sessionId,
      held,
      slot,
      body,
      call,
      route,
      header: (name) => header(req, name),
      clientIp: () => (ip ??= clientAddress(forwardedIp(req, o.trustProxy))),
    });
  };

  const route = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const q = req.url?.indexOf('?') ?? -1;
    const path = q === -1 ? req.url : req.url!.slice(0, q);
    if (path !== MCP_ENDPOINT) return jsonRpcError(res, 404, -32000, 'Not found');
    if (o.screen?.(req, res)) return;
    const method = req.method;
    if (method === 'POST' || method === 'GET' || method === 'DELETE') return void enter(req, res, method).catch((err: unknown) => failed(res, err));
    res.setHeader('Allow', 'GET, POST, DELETE');
    jsonRpcError(res, 405, -32000, 'Method not allowed');
  };

  return (req, res) => {
    try {
      if (hostCheck) hostCheck(req, res, () => route(req, res));
      else route(req, res);
    } catch (err) {
      failed(res, err);
    }
  };
}

/**
 * The era of a POST without a session, by the SDK's own classifier (synchronous, on the parsed
 * body). A POST without a JSON body is legacy: it gets the legacy answer (400).
 */
function classify(req: http.IncomingMessage, parsed: unknown): Route {
  if (parsed === undefined) return 'legacy';
  const kind = classifyInboundRequest({
    httpMethod: 'POST',
    body: parsed,
    protocolVersionHeader: header(req, 'mcp-protocol-version'),
    mcpMethodHeader: header(req, 'mcp-method'),
    mcpNameHeader: header(req, 'mcp-name'),
  }).kind;
  return kind === 'modern' ? 'modern' : kind === 'legacy' ? 'legacy' : 'rejected';
}
