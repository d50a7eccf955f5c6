/**
 * What a hosted backend gives the hosted endpoint (hosted-endpoint.ts): a fresh MCP server for
 * each legacy session and each modern request. The built-in server and an `--entry` module give
 * an McpServer of either SDK; `--command` gives a bridge to a process of its own, which comes
 * with the hooks of {@link SessionProcess}. Nothing here relies on the identity of the SDK's
 * classes: a user's module brings its own copy.
 */
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Era } from '../../../shared/snapshot.js';

/** Something the child can host per session or request: an McpServer (or low-level Server) of either SDK. */
export interface HostableServer {
  connect(transport: never): Promise<void>;
  close(): Promise<void>;
}

/** Which SDK's transport serves a legacy session: that of the SDK the server was built with. */
export type SdkGeneration = 'v1' | 'v2';

/** What a v2 factory is told (the SDK's `McpRequestContext`); v1 factories ignore it. */
export interface FactoryContext {
  era: Era;
  requestInfo?: unknown;
}

/**
 * Why a `--command` session must end: its client did not read its streams (reason `close`: the
 * client is gone in all but name), or its process did not read its stdin (reason
 * `process-exit`: the process is ended). `why` goes to the log.
 */
export interface SessionOverflow {
  reason: 'close' | 'process-exit';
  why: string;
}

/**
 * The process of a session whose server is another program (`--command`): its pid goes on the
 * session's row and its exit ends the session (reason `process-exit`). It has flow control
 * (see server/backends/command/bridge-flow.ts): the endpoint shows it every HTTP response of the
 * session, refuses a POST while it is not `accepting`, and ends the session on `onOverflow`.
 */
export interface SessionProcess {
  readonly pid: number | undefined;
  /** `cb` runs once when the process has exited (at once if it already has). */
  onProcessExit(cb: () => void): void;
  /** An HTTP response of its session, whose backpressure it follows. */
  watch(res: Writable): void;
  /** False while the process has not read what it was sent: a new POST gets 503. */
  readonly accepting: boolean;
  /** `cb` runs once when the session passed a hard limit of its flow control. */
  onOverflow(cb: (o: SessionOverflow) => void): void;
  /** Logs from now on with `logger` (one that names the session). */
  useLogger(logger: Logger): void;
  /** It serves session `sessionId` now (named with it in the snapshot's `processes`). */
  assignSession(sessionId: string): void;
}

/** One session's (or modern request's) server, and its process when it is a program of its own. */
export interface HostedServer {
  server: HostableServer;
  process?: SessionProcess;
}

/** Where the hosted endpoint gets its servers. */
export interface ServerSource {
  /** The SDK whose transport serves its legacy sessions. */
  readonly sdk: SdkGeneration;
  /** The eras it serves: modern requests reach it only when it serves `modern`. */
  readonly eras: ReadonlySet<Era>;
  /** A fresh server for a legacy session or a modern request. */
  create(ctx: FactoryContext): Promise<HostedServer>;
}

/**
 * The backend could not give a session its server (a `--command` program that does not
 * run): the `initialize` is answered with this message (502), not a bare "Internal error".
 */
export class BackendStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendStartError';
  }
}
