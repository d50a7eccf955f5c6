/**
 * The one builder of a connection's row, for every way a connection starts (a hosted session's
 * `initialize`, a proxied session the upstream opened or one adopted after a restart, a modern
 * client's first request). Every field a client chose is bounded here (see client-fields.ts):
 * the row is rewritten into every snapshot.
 */
import type { Connection, ConnectionProcess, Era } from '../../shared/snapshot.js';
import { METHOD_MAX } from '../operations/operation-recorder.js';
import { boundClientInfo, boundProtocolVersion, boundText, boundUserAgent } from './client-fields.js';

/** What a connection is known by when it starts, as the client sent it (unbounded). */
export interface ConnectionStart {
  sessionId: string;
  /** Already a stored address (see `clientAddress`). */
  clientIP: string;
  userAgent: string | undefined;
  clientInfo: unknown;
  protocolVersion: unknown;
  era: Era;
  /** The method of the request that started it; null when none is known (an adopted session's GET). */
  method: string | null | undefined;
  /** Its stdio process (`--command`). */
  process?: ConnectionProcess;
}

/** The row of a connection that starts now, with its first request counted. */
export function connectionRow(c: ConnectionStart, at = new Date().toISOString()): Connection {
  return {
    sessionId: c.sessionId,
    clientIP: c.clientIP,
    userAgent: boundUserAgent(c.userAgent),
    connectedAt: at,
    lastActivity: at,
    requestCount: 1,
    clientInfo: boundClientInfo(c.clientInfo),
    protocolVersion: boundProtocolVersion(c.protocolVersion),
    era: c.era,
    lastMethod: typeof c.method === 'string' ? boundText(c.method, METHOD_MAX) ?? null : null,
    ...(c.process && { process: c.process }),
  };
}
