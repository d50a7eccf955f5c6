/**
 * The modern era (2026-07-28) of the MCP endpoint, for v2 backends: the SDK's per-request
 * handler (`createMcpHandler`, `legacy: 'reject'`: legacy traffic never reaches it, McpHost
 * routes it to the sessionful {@link LegacySessions}). Express's parsed body is handed on, so
 * the JSON is not parsed twice. Each per-request server's transport is tapped for its response
 * (the operation's outcome), found through {@link ModernCallers} without AsyncLocalStorage.
 */
import type http from 'node:http';
import { createMcpHandler, McpServer, type McpServerFactory } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import type { Logger } from 'pino';
import type { HostableServer, ServerSource } from './server-source.js';
import type { ModernCallers } from './modern-callers.js';
import { tapResponses } from '../../operations/operation-tap.js';
import { RateLimitedLog } from '../../endpoint/rate-limited-log.js';

/** Options of a {@link ModernLeg}. */
export interface ModernLegOptions {
  servers: ServerSource;
  callers: ModernCallers;
  logger: Logger;
}

/**
 * What the SDK's handler can serve: an McpServer of our own copy of the SDK as it is (the SDK
 * then also checks its tools' header declarations), or else the low-level Server inside. The
 * handler tells the two apart by `instanceof` of its own McpServer, so an `--entry` module
 * with its own copy of the package (its own node_modules, or bundled) would be taken for a
 * low-level Server and every modern request would fail with 500.
 */
function servable(product: HostableServer): HostableServer {
  if (product instanceof McpServer) return product;
  const inner = (product as { server?: unknown }).server;
  return typeof inner === 'object' && inner !== null && typeof (inner as HostableServer).connect === 'function' ? (inner as HostableServer) : product;
}

/** Serves modern requests; `close()` ends what is open (listen streams included). */
export class ModernLeg {
  readonly #handler: ReturnType<typeof createMcpHandler>;
  readonly #node: (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<void>;
  readonly #logger: Logger;
  /** A failing server fails every request: say so a few times a minute, not for each. */
  readonly #failures: RateLimitedLog;
  /** The SDK's latest reported error, shown with a 5xx (requests may overlap: it is the latest, not surely this one's). */
  #lastError: string | undefined;
  #closePromise: Promise<void> | undefined;

  constructor(options: ModernLegOptions) {
    const { servers, callers, logger } = options;
    this.#logger = logger;
    this.#failures = new RateLimitedLog({
      perMinute: 5,
      onDropped: (dropped) => logger.error({ dropped }, `${dropped} more modern requests failed with a 5xx in the last minute`),
    });
    const factory = (async (ctx) => {
      const server = servable((await servers.create({ era: ctx.era, requestInfo: ctx.requestInfo })).server);
      const request = callers.get(ctx.requestInfo);
      if (request) {
        // The SDK calls connect() with its per-request transport: tap it once connected.
        const connect = server.connect.bind(server) as (t: unknown) => Promise<void>;
        (server as unknown as { connect: (t: unknown) => Promise<void> }).connect = async (t) => {
          await connect(t);
          tapResponses(t as never, request.onResponse);
        };
      }
      return server;
    }) as McpServerFactory;
    this.#handler = createMcpHandler(factory, {
      legacy: 'reject',
      onerror: (err: Error) => {
        this.#lastError = err.message.slice(0, 300);
        logger.debug({ err: err.message }, 'modern request failed');
      },
    });
    const handler = this.#handler;
    const node = toNodeHandler({
      fetch: (request: globalThis.Request, o?: { parsedBody?: unknown }) => {
        callers.link(request, o?.parsedBody);
        return handler.fetch(request, o);
      },
    });
    this.#node = node as unknown as (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<void>;
  }

  /** Serves one modern request (or answers a modern-ladder rejection). */
  serve(req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<void> {
    res.once('finish', () => {
      if (res.statusCode < 500 || !this.#failures.allow()) return;
      const m = req.headers['mcp-method'];
      const method = typeof m === 'string' ? m.slice(0, 100) : undefined;
      this.#logger.error({ status: res.statusCode, method, latestSdkError: this.#lastError }, 'a modern request failed inside the MCP server');
    });
    return this.#node(req, res, body);
  }

  /** Ends open modern exchanges and listen streams. Safe to call many times. */
  close(): Promise<void> {
    this.#failures.flush();
    this.#closePromise ??= Promise.resolve(this.#handler.close());
    return this.#closePromise;
  }
}
