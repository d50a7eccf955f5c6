/** `GET /livez` and `GET /readyz`: the probes, open without a token. */
import { Router } from 'express';
import type { ServerCatalog } from '../server-catalog.js';

export function probeRoutes(catalog: ServerCatalog): Router {
  const router = Router();
  router.get('/livez', (_req, res) => {
    res.json({ status: 'ok', timestamp: new Date().toISOString() });
  });
  // Ready: every child meant to run is running and its snapshot is valid and fresh. A server
  // stopped on purpose (by an operator, or `autostart: false`) does not count: it is the state
  // someone asked for, not a fault, and taking the whole API out of a load balancer for it
  // would also hide the servers that do run. It shows as `stopped` in /api/mcp/servers.
  router.get('/readyz', (_req, res) => {
    const servers = catalog.supervisors().filter((sup) => sup.wanted).map((sup) => {
      const v = catalog.view(sup.serverId);
      const reason =
        sup.state !== 'running' ? `child is ${sup.state}`
          : !v?.snapshot ? 'no valid snapshot yet'
            : v.snapshotError ? v.snapshotError
              : v.stale ? 'snapshot is stale' : null;
      return { serverId: sup.serverId, ready: reason === null, reason };
    });
    const ready = catalog.watcherRunning && servers.every((s) => s.ready);
    res.status(ready ? 200 : 503).json({ ready, servers, timestamp: new Date().toISOString() });
  });
  return router;
}
