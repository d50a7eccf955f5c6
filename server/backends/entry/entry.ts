/**
 * Loads the user's `--entry` module: its default export is a factory `() => McpServer` (or a
 * promise of one), of SDK v1 (`@modelcontextprotocol/sdk`: the legacy era only) or v2
 * (`@modelcontextprotocol/server`: both eras).
 */
import { pathToFileURL } from 'node:url';
import { access } from 'node:fs/promises';

/** Something the child can host per session or request: an McpServer (or low-level Server) of either SDK. */
export interface HostableServer {
  connect(transport: never): Promise<void>;
  close(): Promise<void>;
}

/**
 * Why a `--command` session must end: its client did not read its streams (reason `close`: the
 * client is gone in all but name), or its process did not read its stdin (reason
 * `process-exit`: the process is ended). Reasons of `CLOSE_REASONS` in shared/snapshot.ts; `why`
 * goes to the log.
 */
export interface SessionOverflow {
  reason: 'close' | 'process-exit';
  why: string;
}

/**
 * A hosted server that is another program (`--command`): one process per session, whose pid goes on
 * the session's row and whose exit ends the session (reason `process-exit`). It has flow control
 * (see command/bridge-flow.ts): the host shows it every HTTP response of the session, refuses a
 * POST while it is not `accepting`, and ends the session on `onOverflow`.
 */
export interface SessionProcess {
  readonly pid: number | undefined;
  /** `cb` runs once when the process has exited (at once if it already has). */
  onProcessExit(cb: () => void): void;
  /** An HTTP response of its session, whose backpressure it follows. */
  watch(res: import('node:stream').Writable): void;
  /** False while the process has not read what it was sent: a new POST gets 503. */
  readonly accepting: boolean;
  /** `cb` runs once when the session passed a hard limit of its flow control. */
  onOverflow(cb: (o: SessionOverflow) => void): void;
  /** Logs from now on with `logger` (one that names the session). */
  useLogger(logger: import('pino').Logger): void;
  /** It serves session `sessionId` now (named with it in the snapshot's `processes`). */
  assignSession(sessionId: string): void;
}

/**
 * The live processes a backend runs (`--command`), published as the snapshot's `processes`
 * until each has exited; `'change'` when the list changed.
 */
export interface ProcessList {
  list(): import('../../../shared/snapshot.js').SnapshotProcess[];
  on(event: 'change', listener: () => void): unknown;
}

/** Whether `server` is a {@link SessionProcess}. */
export function isSessionProcess(server: unknown): server is SessionProcess {
  return typeof (server as Partial<SessionProcess>).onProcessExit === 'function';
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

/** Which SDK built a server: `v1` serves the legacy era only, `v2` both. */
export type SdkGeneration = 'v1' | 'v2';

/** What a v2 factory is told (the SDK's `McpRequestContext`); v1 factories ignore it. */
export interface FactoryContext {
  era: 'legacy' | 'modern';
  requestInfo?: unknown;
}

/** Builds a fresh server for each legacy session or modern request. */
export type ServerFactory = (ctx: FactoryContext) => HostableServer | Promise<HostableServer>;

/** The MCP server the child hosts: its SDK generation and its factory. */
export interface Backend {
  generation: SdkGeneration;
  create: ServerFactory;
  /** Stops what the backend runs beside its servers (a timer), at shutdown. */
  close?(): void | Promise<void>;
  /** The processes it runs, when it runs any (`--command`). */
  readonly processes?: ProcessList;
}

/** The `--entry` module cannot be loaded or does not export a factory. */
export class EntryError extends Error {
  readonly code = 'EENTRY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EntryError';
  }
}

/**
 * The SDK generation of `x` by duck typing: `instanceof` fails when the user's module resolves
 * its own copy of a package (its classes are then not ours). Only v2's low-level Server has
 * `getNegotiatedProtocolVersion` and `projectCallToolResult`; both have `setRequestHandler`.
 */
export function sdkGeneration(x: unknown): SdkGeneration | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const o = x as Record<string, unknown>;
  if (typeof o.connect !== 'function' || typeof o.close !== 'function') return undefined;
  const low = (typeof o.server === 'object' && o.server !== null ? o.server : o) as Record<string, unknown>;
  if (typeof low.getNegotiatedProtocolVersion === 'function' && typeof low.projectCallToolResult === 'function') return 'v2';
  if (typeof low.setRequestHandler === 'function') return 'v1';
  return undefined;
}

/**
 * Imports `file` and returns its backend. The factory is called once here, so a broken module
 * fails at start rather than on the first client, and its generation is known from then on.
 */
export async function loadEntry(file: string): Promise<Backend> {
  try {
    await access(file);
  } catch (err) {
    throw new EntryError(`Invalid --entry: ${file}: no such file`, { cause: err });
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw new EntryError(`Invalid --entry: ${file}: cannot be loaded: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const factory = mod.default;
  if (typeof factory !== 'function') {
    throw new EntryError(`Invalid --entry: ${file}: the default export must be a function returning an McpServer, got ${typeof factory}`);
  }
  const build = async (ctx: FactoryContext): Promise<{ server: HostableServer; generation: SdkGeneration }> => {
    const server: unknown = await (factory as (ctx: FactoryContext) => unknown)(ctx);
    const generation = sdkGeneration(server);
    if (!generation) throw new EntryError(`Invalid --entry: ${file}: the factory did not return an McpServer`);
    return { server: server as HostableServer, generation };
  };
  const probe = await build({ era: 'legacy' });
  await probe.server.close();
  return { generation: probe.generation, create: async (ctx) => (await build(ctx)).server };
}
