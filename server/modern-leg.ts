/**
 * The modern era (2026-07-28) of the MCP endpoint, for v2 backends: the SDK's per-request
 * handler (`createMcpHandler`, `legacy: 'reject'`: legacy traffic never reaches it, McpHost
 * routes it to the sessionful {@link LegacySessions}). Express's parsed body is handed on, so
 * the JSON is not parsed twice. Each per-request server's transport is tapped for its response
 * (the operation's outcome), found through {@link ModernCallers} without AsyncLocalStorage.
 */
import type { Request, Response } from 'express';
import { createMcpHandler, type McpServerFactory } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import type { Logger } from 'pino';
import type { Backend, HostableServer } from './load-entry.js';
import type { ModernCallers } from './modern-callers.js';
import { tapResponses } from './operation-tap.js';

/** Options of a {@link ModernLeg}. */
export interface ModernLegOptions {
  backend: Backend;
  callers: ModernCallers;
  logger: Logger;
}

/** Serves modern requests; `close()` ends what is open (listen streams included). */
export class ModernLeg {
  readonly #handler: ReturnType<typeof createMcpHandler>;
  readonly #node: (req: Request, res: Response, body: unknown) => Promise<void>;
  #closePromise: Promise<void> | undefined;

  constructor(options: ModernLegOptions) {
    const { backend, callers, logger } = options;
    const factory = (async (ctx) => {
      const server = (await backend.create({ era: ctx.era, requestInfo: ctx.requestInfo })) as HostableServer;
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
      onerror: (err: Error) => logger.debug({ err: err.message }, 'modern request failed'),
    });
    const handler = this.#handler;
    const node = toNodeHandler({
      fetch: (request: globalThis.Request, o?: { parsedBody?: unknown }) => {
        callers.link(request, o?.parsedBody);
        return handler.fetch(request, o);
      },
    });
    this.#node = node as unknown as (req: Request, res: Response, body: unknown) => Promise<void>;
  }

  /** Serves one modern request (or answers a modern-ladder rejection). */
  serve(req: Request, res: Response): Promise<void> {
    return this.#node(req, res, req.body);
  }

  /** Ends open modern exchanges and listen streams. Safe to call many times. */
  close(): Promise<void> {
    this.#closePromise ??= Promise.resolve(this.#handler.close());
    return this.#closePromise;
  }
}
