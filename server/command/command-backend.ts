/**
 * The `--command` backend (contract §7): each legacy session gets its own process of the
 * command line, started at its `initialize` and bridged to its transport ({@link StdioBridge}).
 * Stdio servers are connection-oriented, so the backend serves the legacy era only: a modern
 * request is answered so that a negotiating client falls back to `initialize`. The memory on
 * each session's row (`process.rssBytes`, the RSS of its whole process group) is refreshed on
 * every heartbeat and when the session starts.
 */
import type { Logger } from 'pino';
import { splitCommandLine } from '../../shared/command-line.js';
import { groupRssBytes } from '../../shared/process-groups.js';
import { BackendStartError, type Backend } from '../load-entry.js';
import type { SessionRegistry } from '../session-registry.js';
import { StdioBridge } from './stdio-bridge.js';
import { StdioProcess } from './stdio-process.js';

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

/** Reads the RSS of every session's process group into its row (one pass over /proc). */
function refreshMemory(registry: SessionRegistry): void {
  const rows = registry.list().filter((c) => c.process);
  if (rows.length === 0) return;
  const rss = groupRssBytes(new Set(rows.map((c) => c.process!.pid)));
  for (const c of rows) c.process!.rssBytes = rss.get(c.process!.pid) ?? null;
}

/**
 * The backend of `--command`: `start()` begins reading the processes' memory, `close()` stops
 * (the sessions, and so the processes, are ended by the host).
 */
export class CommandBackend implements Backend {
  /** Legacy only, as a v1 factory: the host answers a modern request with the 400 that makes a client fall back. */
  readonly generation = 'v1' as const;
  readonly #o: CommandBackendOptions;
  readonly #argv: string[];
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closing: Promise<void> | undefined;
  readonly #onConnect = () => refreshMemory(this.#o.registry);

  constructor(o: CommandBackendOptions) {
    this.#o = o;
    this.#argv = splitCommandLine(o.command);
    this.#log = o.logger.child({ component: 'stdio' });
  }

  /** Starts the memory refresh. Throws when called twice. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('CommandBackend already started');
    this.#started = true;
    if (this.#closing) return;
    this.#timer = setInterval(() => refreshMemory(this.#o.registry), this.#o.refreshMs).unref();
    this.#o.registry.on('connect', this.#onConnect);
  }

  /** Stops the refresh; the same promise every time. */
  close(): Promise<void> {
    this.#closing ??= Promise.resolve().then(() => {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#o.registry.off('connect', this.#onConnect);
    });
    return this.#closing;
  }

  /** Whether its timer runs (for tests of its lifecycle). */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** A session's server: its own started process, bridged. */
  async create(): Promise<StdioBridge> {
    const proc = new StdioProcess(this.#argv, this.#log, this.#o.env);
    try {
      await proc.start();
    } catch (err) {
      throw new BackendStartError(`cannot start the MCP server ${JSON.stringify(this.#argv[0])}: ${(err as Error).message}`, { cause: err });
    }
    this.#log.debug({ stdioPid: proc.pid }, 'stdio server started');
    return new StdioBridge(proc, this.#log);
  }
}

/** The backend of `--command`, started. */
export function commandBackend(o: CommandBackendOptions): CommandBackend {
  const backend = new CommandBackend(o);
  void backend.start();
  return backend;
}
