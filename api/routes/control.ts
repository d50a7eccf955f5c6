/**
 * The routes that act: supervisor control of a spawned server
 * (`POST /api/mcp/servers/:serverId/restart`, `/stop`, `/start`) and ending a session through
 * the server's control directory (`DELETE /api/mcp/connections/:sessionId` and
 * `DELETE /api/mcp/servers/:serverId/connections/:sessionId`; see shared/control-request.ts).
 *
 * Cross-site requests: a web page can send a POST with a "simple" content type (text/plain,
 * a form) to any origin without asking; `application/json` needs a CORS preflight, which this
 * API never grants, so the POSTs require it (415 otherwise). A page cannot send a cross-origin
 * DELETE at all without that preflight, so DELETE needs no content type.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { isControlSessionId, SESSION_ID_MAX } from '../../shared/control-request.js';
import { NoControlDir, writeControlRequest } from '../../shared/io/write-control-request.js';
import { ActionQueueFull } from '../action-queue.js';
import type { ChildState, ChildSupervisor } from '../child-supervisor.js';
import { sendError } from '../http-errors.js';
import type { ServerCatalog } from '../server-catalog.js';
import { knownServer } from './known-server.js';

export interface ControlRoutesOptions {
  catalog: ServerCatalog;
  /** Where the control directories are (`state/<serverId>/control/`). */
  stateDir: string;
  logger: Logger;
}

/** The supervisor actions, by the last segment of their route. */
const ACTIONS: Record<string, (sup: ChildSupervisor) => Promise<ChildState>> = {
  start: (sup) => sup.startChild(),
  stop: (sup) => sup.stopChild(),
  restart: (sup) => sup.restartChild(),
};

/** True when the request says its body is JSON (`application/json`, parameters such as a charset allowed). */
function isJson(req: Request): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json';
}

/** `s` cut to 100 characters and quoted, with every control character escaped (JSON leaves U+007F-U+009F as they are). */
function quoted(s: string): string {
  return JSON.stringify(s.slice(0, 100)).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The routes of supervisor control and of ending sessions, mounted behind the token. */
export function controlRoutes(o: ControlRoutesOptions): Router {
  const router = Router();

  router.post('/api/mcp/servers/:serverId/:action', async (req, res, next: NextFunction) => {
    const act = Object.hasOwn(ACTIONS, req.params.action) ? ACTIONS[req.params.action] : undefined;
    if (!act) return next();
    if (!isJson(req)) return sendError(res, 415, 'unsupported_media_type', 'Send Content-Type: application/json (a web page cannot send it to another origin without CORS)');
    const view = knownServer(o.catalog, req.params.serverId, res);
    if (!view) return;
    if (!view.supervisor) return sendError(res, 409, 'external_server', `Server "${view.serverId}" was not spawned by this API (found in the state directory): it cannot be ${req.params.action}ed from here`);
    o.logger.info({ serverId: view.serverId, action: req.params.action, from: req.socket.remoteAddress }, 'supervisor action requested');
    let status: ChildState;
    try {
      status = await act(view.supervisor);
    } catch (err) {
      // A repeat of the action waiting is merged into it; only different ones fill the queue.
      if (err instanceof ActionQueueFull) return sendError(res, 429, 'queue_full', `Server "${view.serverId}": ${err.message}`);
      throw err;
    }
    res.status(202).json({ serverId: view.serverId, status });
  });

  const endSession = async (serverId: string, req: Request, res: Response) => {
    const wanted = String(req.params.sessionId);
    // The writer refuses such an id ("bad sessionId"): say so now rather than 202 for nothing.
    if (!isControlSessionId(wanted)) return sendError(res, 400, 'bad_session_id', `Session id ${quoted(wanted)} cannot be ended: a session id is 1-${SESSION_ID_MAX} printable characters`);
    const view = knownServer(o.catalog, serverId, res);
    if (!view) return;
    const snap = view.snapshot;
    if (!snap) return sendError(res, 503, 'no_snapshot', `No valid snapshot of server "${serverId}" yet${view.snapshotError ? `: ${view.snapshotError}` : ''}`);
    // Only an id that the snapshot lists goes into a request file: the URL's text never does.
    const conn = snap.connections.find((c) => c.sessionId === wanted);
    if (!conn) return sendError(res, 404, 'unknown_session', `No session ${quoted(wanted)} on server "${serverId}"`);
    if (conn.era === 'modern' && conn.transport !== 'stdio') return sendError(res, 409, 'sessionless', `${conn.sessionId} is a sessionless (modern) client: there is no session to end (it is listed until its client window passes without a request)`);
    if (view.stale) return sendError(res, 409, 'writer_not_live', `Server "${serverId}" has no live writer (its snapshot is stale): nothing would end the session`);
    try {
      await writeControlRequest(o.stateDir, serverId, { action: 'end-session', sessionId: conn.sessionId, requestedAt: new Date().toISOString(), by: 'api' });
    } catch (err) {
      if (err instanceof NoControlDir) return sendError(res, 409, 'no_control_dir', `Server "${serverId}" takes no requests: ${err.message}`);
      throw err;
    }
    o.logger.info({ serverId, sessionId: conn.sessionId }, 'end of session requested');
    res.status(202).json({ status: 'terminating', serverId, sessionId: conn.sessionId });
  };
  router.delete('/api/mcp/connections/:sessionId', (req, res) => endSession(o.catalog.defaultServerId, req, res));
  router.delete('/api/mcp/servers/:serverId/connections/:sessionId', (req, res) => endSession(req.params.serverId, req, res));
  return router;
}
