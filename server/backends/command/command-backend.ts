/**
 * The `--command` backend: each legacy session gets its own process of the command line, started at
 * its `initialize` and bridged to its transport ({@link StdioBridge}). Stdio servers are
 * connection-oriented, so the backend serves the legacy era only: a modern request is answered so
 * that a negotiating client falls back to `initialize`. The memory on each session's row
 * (`process.rssBytes`, the RSS of its whole process group) is refreshed on every heartbeat (not on
 * connect: a connect storm would read /proc once per session; a new row shows null until the next
 * heartbeat). Every process it spawned is listed in {@link CommandBackend.processes} until it has
 * exited (the snapshot's `processes`).
 */
import type { Logger } from 'pino';
import { splitCommandLine } from '../../../shared/command-line.js';
import { groupRssBytes } from '../../../shared/io/process-groups.js';
import { LEGACY_ONLY, type Backend } from '../backend.js';
import { HostedBackend } from '../hosted/hosted-backend.js';
import { BackendStartError, type HostedServer, type ServerSource } from '../hosted/server-source.js';
import type { SessionRegistry } from '../../sessions/session-registry.js';
import { StdioBridge } from './stdio-bridge.js';
import { StdioProcess } from './stdio-process.js';
import { StdioProcesses } from './stdio-processes.js';

/** Options of {@link commandBackend}. */
export interface CommandBackendOptions {
  /** The command line, as given to `--command`. */
  command: string;
  registry: SessionRegistry;
  logger: Logger;
  /** How often the memory of the processes is read. */
  refreshMs: number;
  /** The environment of every process (see `stdioEnv`). Default this process's own. */
  env?: Record<string, string>;
}

/** Reads the RSS of every session's process group into its row. */
async function refreshMemory(registry: SessionRegistry): Promise<void> {
  const rows = registry.list().filter((c) => c.process);
  if (rows.length === 0) return;
  const rss = await groupRssBytes(new Set(rows.map((c) => c.process!.pid)));
  for (const c of rows) c.process!.rssBytes = rss.get(c.process!.pid) ?? null;
}

/**
 * The servers of `--command`, one process per session; `start()` begins reading the processes'
 * memory, `close()` stops (the sessions, and so the processes, are ended by the endpoint).
 */
export class CommandServers implements ServerSource {
  /** A bridge behaves as a v1 server does: the SDK v1 transport serves its sessions. */
  readonly sdk = 'v1' as const;
  /** A stdio program is connection-oriented: the legacy era only. */
  readonly eras = LEGACY_ONLY;
  readonly #o: CommandBackendOptions;
  readonly #argv: string[];
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closing: Promise<void> | undefined;
  /** The refresh under way: a slow /proc never makes them pile up. */
  #refreshing: Promise<void> | undefined;
  /** Every process spawned and not exited yet (the snapshot's `processes`). */
  readonly processes = new StdioProcesses();

  constructor(o: CommandBackendOptions) {
    this.#o = o;
    this.#argv = splitCommandLine(o.command);
    this.#log = o.logger.child({ component: 'stdio' });
  }

  /** Starts the memory refresh. Throws when called twice. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('CommandServers already started');
    this.#started = true;
    if (this.#closing) return;
    this.#timer = setInterval(() => this.#refresh(), this.#o.refreshMs).unref();
  }

  #refresh(): void {
    if (this.#refreshing) return;
    this.#refreshing = refreshMemory(this.#o.registry)
      .catch((err: Error) => this.#log.warn({ err: err.message }, 'reading the memory of the stdio server processes failed'))
      .finally(() => (this.#refreshing = undefined));
  }

  /** Stops the refresh; the same promise every time. */
  close(): Promise<void> {
    this.#closing ??= Promise.resolve().then(() => {
      clearInterval(this.#timer);
      this.#timer = undefined;
    });
    return this.#closing;
  }

  /** Whether its timer runs (for tests of its lifecycle). */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** A session's server: its own started process, bridged (the bridge is its process's hooks too). */
  async create(): Promise<HostedServer> {
    const proc = new StdioProcess(this.#argv, this.#log, this.#o.env);
    try {
      await proc.start();
    } catch (err) {
      throw new BackendStartError(`cannot start the MCP server ${JSON.stringify(this.#argv[0])}: ${(err as Error).message}`, { cause: err });
    }
    this.#log.debug({ stdioPid: proc.pid }, 'stdio server started');
    this.processes.track(proc);
    const bridge = new StdioBridge(proc, this.#log, (sessionId) => proc.pid !== undefined && this.processes.assign(proc.pid, sessionId));
    return { server: bridge, process: bridge };
  }
}

/** The backend of `--command`. */
export function commandBackend(o: CommandBackendOptions): Backend {
  const servers = new CommandServers(o);
  return new HostedBackend({ published: { kind: 'command', target: o.command }, source: servers, processes: servers.processes, companion: servers });
}
