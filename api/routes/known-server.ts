/** The server a route names, checked the same way by every route that takes `:serverId`. */
import type { Response } from 'express';
import { SERVER_ID_RE } from '../../shared/paths.js';
import { sendError } from '../http-errors.js';
import type { ServerCatalog, ServerView } from '../server-catalog.js';

/** The message of a malformed server id (400 `bad_server_id`). */
export function badServerId(id: unknown): string {
  return `Invalid server id ${JSON.stringify(typeof id === 'string' ? id.slice(0, 100) : id)} (expected [A-Za-z0-9_-]{1,64})`;
}

/** The view of a known server, or an error response sent (400 bad id, 404 unknown). */
export function knownServer(catalog: ServerCatalog, serverId: string, res: Response): ServerView | undefined {
  if (!SERVER_ID_RE.test(serverId)) {
    sendError(res, 400, 'bad_server_id', badServerId(serverId));
    return undefined;
  }
  const view = catalog.view(serverId);
  if (!view) sendError(res, 404, 'unknown_server', `No server "${serverId}" (not spawned by this API, not in the state directory)`);
  return view;
}

/** The view of `serverId` with a snapshot, or an error response sent (400 bad id, 404 unknown, 503 none yet). */
export function withSnapshot(catalog: ServerCatalog, serverId: string, res: Response): (ServerView & { snapshot: NonNullable<ServerView['snapshot']> }) | undefined {
  const view = knownServer(catalog, serverId, res);
  if (!view) return undefined;
  if (!view.snapshot) {
    const why = view.snapshotError ? `: ${view.snapshotError}` : '';
    sendError(res, 503, 'no_snapshot', `No valid snapshot of server "${serverId}" yet${why}`);
    return undefined;
  }
  return view as ServerView & { snapshot: NonNullable<ServerView['snapshot']> };
}
