/**
 * The Express app of the API: the Host check first (every route), then the probes and the
 * dashboard's files open, everything else behind the optional token.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { requireToken } from './auth.js';
import { requireAllowedHost } from './host-check.js';
import { sendError } from './http-errors.js';
import { mcpRoutes } from './routes/mcp.js';
import { probeRoutes } from './routes/probes.js';
import type { ServerCatalog } from './server-catalog.js';
import type { SseHub } from './sse-hub.js';

export interface AppOptions {
  catalog: ServerCatalog;
  sse: SseHub;
  logger: Logger;
  /**
   * Host names accepted in the `Host` header (`allowedHostNames(host, allowedHosts)` of
   * `shared/host-check.ts`); `null` checks nothing (bound to every interface, no `--allowed-hosts`).
   */
  allowedHosts: ReadonlySet<string> | null;
  /** When set, every route but the probes needs `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** More routers to mount behind the token (`/metrics`). */
  extra?: express.Router[];
  /** Routers mounted before the token, like the probes: files that hold no data (the dashboard's shell). */
  publicRouters?: express.Router[];
}

/** The API's Express app: probes, the `/api/mcp` routes, metrics, the dashboard. */
export function createApp(o: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('json spaces', 0);
  // Before everything, probes included: a rebound name must not read even /readyz.
  app.use(requireAllowedHost(o.allowedHosts));
  app.use(probeRoutes(o.catalog));
  for (const r of o.publicRouters ?? []) app.use(r);
  if (o.token) app.use(requireToken(o.token));
  app.use('/api/mcp', mcpRoutes(o.catalog, o.sse));
  for (const r of o.extra ?? []) app.use(r);
  app.use((req: Request, res: Response) => sendError(res, 404, 'not_found', `No route ${req.method} ${req.path}`));
  app.use((err: Error & { status?: number }, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status ?? 500;
    if (status >= 500) o.logger.error({ err, path: req.path }, 'request failed');
    if (res.headersSent) return;
    sendError(res, status, status >= 500 ? 'internal' : 'bad_request', status >= 500 ? 'Internal error' : err.message);
  });
  return app;
}
