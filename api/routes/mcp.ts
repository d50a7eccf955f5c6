/** The `/api/mcp` routes: connections, servers, their tools (routes/tools.ts), health and the SSE stream. */
import { Router, type Request } from 'express';
import { SERVER_ID_RE } from '../../shared/paths.js';
import { snapshotAgeMs, type Snapshot } from '../../shared/snapshot.js';
import { sendError } from '../http-errors.js';
import { badServerId, knownServer, withSnapshot } from './known-server.js';
import { toolRoutes } from './tools.js';
import { connectionStats, type ServerCatalog } from '../server-catalog.js';
import type { SseHub } from '../sse-hub.js';

function connectionRoutes(catalog: ServerCatalog, serverIdOf: (req: Request) => string): Router {
  const router = Router({ mergeParams: true });
  router.get('/', (req, res) => {
    const v = withSnapshot(catalog, serverIdOf(req), res);
    if (v) res.json(connectionStats(v));
  });
  router.get('/count', (req, res) => {
    const v = withSnapshot(catalog, serverIdOf(req), res);
    if (!v) return;
    res.json({ serverId: v.serverId, activeConnections: v.snapshot.activeConnections, timestamp: new Date().toISOString(), stale: v.stale });
  });
  router.get('/:sessionId', (req, res) => {
    const v = withSnapshot(catalog, serverIdOf(req), res);
    if (!v) return;
    const c = v.snapshot.connections.find((x) => x.sessionId === req.params.sessionId);
    if (!c) return sendError(res, 404, 'unknown_session', `No session ${JSON.stringify(req.params.sessionId)} on server "${v.serverId}"`);
    res.json(c);
  });
  return router;
}

/**
 * The check of a `--upstream` server's upstream: failing while the proxy cannot
 * reach it, naming it (the target, never with credentials) and why. Undefined for other backends.
 */
function upstreamCheck(s: Snapshot | undefined) {
  const b = s?.backend;
  if (b?.kind !== 'upstream') return undefined;
  const u = b.upstream ?? null;
  return { status: u?.reachable === false ? 'fail' : 'pass', target: b.target, reachable: u?.reachable ?? null, error: u?.error ?? null, since: u?.since ?? null };
}

/** The `/api/mcp` router. */
export function mcpRoutes(catalog: ServerCatalog, sse: SseHub): Router {
  const router = Router();
  const defaultId = () => catalog.defaultServerId;
  router.use('/connections', connectionRoutes(catalog, defaultId));
  router.use('/servers/:serverId/connections', connectionRoutes(catalog, (req) => String(req.params.serverId)));
  router.use('/servers/:serverId/tools', toolRoutes(catalog));

  router.get('/servers', (_req, res) => {
    res.json({ servers: catalog.summaries() });
  });
  router.get('/servers/:serverId', (req, res) => {
    const v = knownServer(catalog, req.params.serverId, res);
    if (v) res.json(catalog.summary(v));
  });

  router.get('/health', (_req, res) => {
    const now = Date.now();
    const v = catalog.view(catalog.defaultServerId, now);
    const sup = v?.supervisor;
    const s = v?.snapshot;
    const child = sup
      ? { status: sup.state === 'running' ? 'pass' : 'fail', state: sup.state, pid: sup.pid ?? null, restarts: sup.restarts }
      : { status: s?.status === 'running' && !v?.stale ? 'pass' : 'fail', state: 'external', pid: s?.pid ?? null, restarts: null };
    const snapshot = {
      status: s && !v?.stale && !v?.snapshotError ? 'pass' : 'fail',
      seq: s?.seq ?? null,
      ageMs: s ? snapshotAgeMs(s, now) : null,
      writerStatus: s?.status ?? null,
      stale: v?.stale ?? true,
      error: v?.snapshotError ?? (s ? null : 'no valid snapshot yet'),
    };
    const watcher = { status: catalog.watcherRunning ? 'pass' : 'fail' };
    const upstream = upstreamCheck(s);
    const serverRunning = child.status === 'pass' && upstream?.status !== 'fail';
    const monitorRunning = watcher.status === 'pass' && snapshot.status === 'pass';
    const healthy = serverRunning && monitorRunning;
    res.status(healthy ? 200 : 503).json({
      healthy,
      status: healthy ? 'pass' : 'fail',
      serverId: catalog.defaultServerId,
      serverRunning,
      monitorRunning,
      connections: { active: s?.activeConnections ?? 0, total: s?.totalConnections ?? 0 },
      lastCheck: new Date(now).toISOString(),
      checks: { child, snapshot, watcher, ...(upstream && { upstream }) },
    });
  });

  router.get('/events', (req, res) => {
    const q = req.query.serverId;
    if (q !== undefined && (typeof q !== 'string' || !SERVER_ID_RE.test(q))) {
      return sendError(res, 400, 'bad_server_id', badServerId(q));
    }
    const ids = q === undefined ? catalog.ids() : [q];
    const initial = ids.flatMap((id) => catalog.view(id)?.snapshot ?? []);
    sse.add(req, res, q, initial);
  });
  return router;
}
