/**
 * The MCP endpoint of the child, as the child drives it: whichever backend it serves (a hosted
 * server or the `--upstream` proxy), it is started once, closed once, and ends a legacy session
 * when asked (a control request). Both endpoints take their requests through one front door
 * (front-door.ts) and keep their sessions in one kind of table (server/sessions/session-table.ts).
 */
import type { Logger } from 'pino';
import type { TrustProxy } from '../../shared/settings.js';
import type { McpEndpoint } from '../../shared/snapshot.js';
import type { RequestObserver } from '../operations/finished-request.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import type { HttpLimits } from './http-limits.js';

/** What every endpoint is given, whatever it serves. */
export interface EndpointDeps {
  /** Bind address. */
  host: string;
  /** Port; 0 = any free port. */
  port: number;
  registry: SessionRegistry;
  /**
   * Told of every JSON-RPC request once it ended, and of every `tools/list` result that passes
   * (server/operations/finished-request.ts; the writer's RequestObservers). Default none.
   */
  requests?: RequestObserver;
  logger: Logger;
  /** Sessions held at once; past it `initialize` gets 503 with Retry-After. Also the cap of modern clients listed. */
  maxSessions: number;
  /** Close a session with no request for this long and none in flight; 0 = never. */
  sessionIdleMs: number;
  /** A modern client is listed this long after its last request (`--client-window-ms`). Default 60000. */
  clientWindowMs?: number;
  /** Which X-Forwarded-For entries to believe for the client IP (see server/endpoint/forwarded-ip.ts). */
  trustProxy: TrustProxy;
  /** More host names (lower-case, IPv6 in brackets, no port) accepted in `Host` (`--allowed-hosts`). Default none. */
  allowedHosts?: readonly string[];
  /** How long after its GET stream closed a silent session ends (reason `close`). Default GONE_GRACE_MS. */
  goneGraceMs?: number;
  /** The server's directory in the state directory, for what an endpoint keeps across restarts; default: in memory only. */
  serverDir?: string;
  /** Body, timeout and socket limits of the HTTP server. Default {@link httpLimits} for `maxSessions`. */
  limits?: Partial<HttpLimits>;
  /** A monotonic clock in ms, for idle times (never the wall clock: it steps). Default `performance.now`. */
  clock?: () => number;
  /** How often idle sessions are looked for. Default a quarter of `sessionIdleMs`, within 50 ms-30 s. */
  sweepIntervalMs?: number;
}


export interface Endpoint {
  /** Where clients reach it, once started; null for one no client reaches by address (wrap's stdio front). */
  readonly endpoint: McpEndpoint | null | undefined;
  /**
   * Binds the port; resolves with the endpoint (the real port when 0 was asked). Throws when
   * called twice or after close(); a close() that comes first makes it reject once the port is
   * closed again (lifecycle.ts).
   */
  start(): Promise<McpEndpoint | null>;
  /** Ends every session (reason `shutdown`) and closes the port. The same promise every time. */
  close(): Promise<void>;
  /** Ends legacy session `sessionId` (reason `terminated`, `by` who asked); false when none such is open. */
  terminate(sessionId: string, by: string): boolean;
}
