/** Bearer-token auth for the API (`--token`): constant-time comparison, 401 with WWW-Authenticate. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { sendError } from './http-errors.js';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** True when `header` is `Bearer <token>` (the scheme is case-insensitive, RFC 6750). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  // Hashing first gives equal lengths, so timingSafeEqual never leaks the token's length.
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

/** Middleware requiring the token on every request it guards. */
export function requireToken(token: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (bearerMatches(req.headers.authorization, token)) return next();
    res.set('WWW-Authenticate', 'Bearer realm="mcp-monitor"');
    sendError(res, 401, 'unauthorized', req.headers.authorization ? 'Wrong token' : 'Missing Authorization: Bearer <token>');
  };
}
