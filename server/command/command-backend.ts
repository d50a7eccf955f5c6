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
}

/** Reads the RSS of every session's process group into its row (one pass over /proc). */
function refreshMemory(registry: SessionRegistry): void {
  const rows = registry.list().filter((c) => c.process);
  if (rows.length === 0) return;
  const rss = groupRssBytes(new Set(rows.map((c) => c.process!.pid)));
  for (const c of rows) c.process!.rssBytes = rss.get(c.process!.pid) ?? null;
}

/** The backend of `--command`. */
export function commandBackend(o: CommandBackendOptions): Backend {
  const argv = splitCommandLine(o.command);
  const log = o.logger.child({ component: 'stdio' });
  const timer = setInterval(() => refreshMemory(o.registry), o.refreshMs).unref();
  const onConnect = () => refreshMemory(o.registry);
  o.registry.on('connect', onConnect);
  return {
    // Legacy only, as a v1 factory: the host answers a modern request with the 400 that makes a client fall back.
    generation: 'v1',
    create: async () => {
      const proc = new StdioProcess(argv, log);
      try {
        await proc.start();
      } catch (err) {
        throw new BackendStartError(`cannot start the MCP server ${JSON.stringify(argv[0])}: ${(err as Error).message}`, { cause: err });
      }
      log.debug({ stdioPid: proc.pid }, 'stdio server started');
      return new StdioBridge(proc, log);
    },
    close: () => {
      clearInterval(timer);
      o.registry.off('connect', onConnect);
    },
  };
}
