/**
 * `GET /api/mcp/servers/:serverId/calls`: the newest lines of a server's calls journal
 * (`calls.jsonl` and its rotated files, see docs/state-directory.md), newest last: `{serverId, calls:[…]}`.
 * `?since=` an ISO-8601 time (inclusive), `?limit=` 1-1000 (default 100), `?sessionId=`,
 * `?name=`; a bad or unknown one is 400, an unknown server 404. The files are read from their end
 * (shared/io/read-recent-calls.ts): a request never loads a whole journal.
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { CALL_NAME_MAX, CALL_SESSION_ID_MAX } from '../../shared/calls.js';
import { readRecentCalls } from '../../shared/io/read-recent-calls.js';
import { serverDir } from '../../shared/paths.js';
import { sendError } from '../http-errors.js';
import type { ServerCatalog } from '../server-catalog.js';
import { knownServer } from './known-server.js';

export interface CallsRoutesOptions {
  catalog: ServerCatalog;
  /** Where the servers' directories are (`state/<serverId>/calls.jsonl`). */
  stateDir: string;
  logger: Logger;
}

/** Lines one request returns at most, and by default. */
export const CALLS_LIMIT_MAX = 1000;
export const CALLS_LIMIT_DEFAULT = 100;

// ISO-8601: a date, or a date and time with its zone (a time without one would be read as local time).
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** `s` cut to 100 characters and quoted, every control character escaped (JSON leaves U+007F-U+009F as they are). */
function quoted(s: string): string {
  return JSON.stringify(s.slice(0, 100)).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const QUERY_KEYS = new Set(['since', 'limit', 'sessionId', 'name']);

type Parsed<T> = { ok: true; value: T | undefined } | { ok: false; message: string };

/** One query parameter as a single string (absent: undefined); given twice or as `a[b]=`: an error. */
function param(req: Request, key: string): Parsed<string> {
  const v = req.query[key];
  if (v === undefined) return { ok: true, value: undefined };
  if (typeof v !== 'string') return { ok: false, message: `${key} must be given once, as a plain value` };
  return { ok: true, value: v };
}

function parseSince(raw: string | undefined): Parsed<number> {
  if (raw === undefined) return { ok: true, value: undefined };
  const t = ISO_TIME.test(raw) ? Date.parse(raw) : NaN;
  return Number.isNaN(t) ? { ok: false, message: `since ${quoted(raw)} is not an ISO-8601 time (e.g. 2026-11-24T10:00:00Z)` } : { ok: true, value: t };
}

function parseLimit(raw: string | undefined): Parsed<number> {
  if (raw === undefined) return { ok: true, value: CALLS_LIMIT_DEFAULT };
  const n = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  return n >= 1 && n <= CALLS_LIMIT_MAX ? { ok: true, value: n } : { ok: false, message: `limit ${quoted(raw)} is not a whole number of 1-${CALLS_LIMIT_MAX}` };
}

function parseText(key: string, raw: string | undefined, max: number): Parsed<string> {
  if (raw === undefined) return { ok: true, value: undefined };
  return raw.length >= 1 && raw.length <= max ? { ok: true, value: raw } : { ok: false, message: `${key} must be 1-${max} characters` };
}

/** The calls route, mounted behind the token like every data route. */
export function callsRoutes(o: CallsRoutesOptions): Router {
  const router = Router();
  router.get('/api/mcp/servers/:serverId/calls', async (req: Request, res: Response, next: NextFunction) => {
    const view = knownServer(o.catalog, String(req.params.serverId), res);
    if (!view) return;
    // A misspelt filter would silently return everything: a key the route does not know is a 400.
    const unknownKey = Object.keys(req.query).find((k) => !QUERY_KEYS.has(k));
    if (unknownKey !== undefined) return sendError(res, 400, 'bad_query', `unknown query parameter ${quoted(unknownKey)} (known: ${[...QUERY_KEYS].join(', ')})`);
    const raw = { since: param(req, 'since'), limit: param(req, 'limit'), sessionId: param(req, 'sessionId'), name: param(req, 'name') };
    const since = raw.since.ok ? parseSince(raw.since.value) : raw.since;
    const limit = raw.limit.ok ? parseLimit(raw.limit.value) : raw.limit;
    const sessionId = raw.sessionId.ok ? parseText('sessionId', raw.sessionId.value, CALL_SESSION_ID_MAX) : raw.sessionId;
    const name = raw.name.ok ? parseText('name', raw.name.value, CALL_NAME_MAX) : raw.name;
    // The first bad parameter is the one named.
    for (const p of [since, limit, sessionId, name]) if (!p.ok) return sendError(res, 400, 'bad_query', p.message);
    if (!since.ok || !limit.ok || !sessionId.ok || !name.ok) return;
    let skipped = 0;
    try {
      const calls = await readRecentCalls(serverDir(o.stateDir, view.serverId), {
        limit: limit.value ?? CALLS_LIMIT_DEFAULT,
        ...(since.value !== undefined && { since: since.value }),
        ...(sessionId.value !== undefined && { sessionId: sessionId.value }),
        ...(name.value !== undefined && { name: name.value }),
        onSkipped: () => void (skipped += 1),
      });
      if (skipped > 0) o.logger.warn({ serverId: view.serverId, skipped }, 'calls journal: lines that are not calls lines were skipped');
      res.json({ serverId: view.serverId, calls });
    } catch (err) {
      next(err);
    }
  });
  return router;
}
