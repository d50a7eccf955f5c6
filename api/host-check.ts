/**
 * DNS-rebinding protection for the API (see shared/host-check.ts): every request, probes and the
 * dashboard's files included, must name an allowed host in `Host`. A page of `attacker.example`
 * that rebinds its name to 127.0.0.1 still sends `Host: attacker.example:PORT`, so it is refused
 * before any route (or the token check) runs. The rule itself is `shared/host-check.ts`, the
 * same one the MCP child uses; socket.io applies it in `MonitoringNamespace`'s `allowRequest`.
 */
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { hostNameOf, isHostAllowed } from '../shared/host-check.js';
import { sendError } from './http-errors.js';

/** The error code of a refused `Host`. */
export const FORBIDDEN_HOST = 'forbidden_host';

/** The one-line reason a request with this `Host` is refused. */
export function forbiddenHostMessage(header: string | undefined): string {
  const name = hostNameOf(header);
  const shown = name ?? (header === undefined ? '(none)' : JSON.stringify(header));
  return `Host ${shown} is not allowed (DNS-rebinding protection: use localhost, the bind address, or add the name with --allowed-hosts)`;
}

/** True when `req` names an allowed host (`allowed` from `allowedHostNames`; `null`: no check). */
export function requestHostAllowed(req: IncomingMessage, allowed: ReadonlySet<string> | null): boolean {
  return isHostAllowed(req.headers.host, allowed);
}

/** Express middleware: 403 `forbidden_host` with the error JSON for a `Host` not allowed. Mount it first. */
export function requireAllowedHost(allowed: ReadonlySet<string> | null) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (requestHostAllowed(req, allowed)) return next();
    sendError(res, 403, FORBIDDEN_HOST, forbiddenHostMessage(req.headers.host));
  };
}
