/**
 * `GET /api/mcp/servers/:serverId/tools`: the server's tool catalog joined with its `operations`
 * (shared/tool-usage.ts), `{serverId, catalog, tools:[{name, bytes, calls, errors, p50Ms,
 * lastCalledAt}]}`; 404 for an unknown server, 503 before its first valid snapshot. A server
 * whose tools were never listed has `catalog: null` and no rows.
 */
import { Router } from 'express';
import { toolUsage } from '../../shared/tool-usage.js';
import type { ServerCatalog } from '../server-catalog.js';
import { withSnapshot } from './known-server.js';

/** The router mounted at `/servers/:serverId/tools` (with `mergeParams`). */
export function toolRoutes(catalog: ServerCatalog): Router {
  const router = Router({ mergeParams: true });
  router.get('/', (req, res) => {
    const v = withSnapshot(catalog, String((req.params as { serverId?: string }).serverId), res);
    if (!v) return;
    res.json({ serverId: v.serverId, catalog: v.snapshot.catalog ?? null, tools: toolUsage(v.snapshot) });
  });
  return router;
}
