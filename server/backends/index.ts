/**
 * The one place that chooses the child's backend from its settings (at most one of `--entry`,
 * `--upstream`, `--command`; the built-in server otherwise). Everything else talks to the
 * {@link Backend} it returns.
 */
import type { Logger } from 'pino';
import type { Settings } from '../../shared/settings.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import type { Backend } from './backend.js';
import { builtinBackend } from './builtin/builtin.js';
import { commandBackend } from './command/command-backend.js';
import { stdioEnv } from './command/stdio-env.js';
import { entryBackend } from './entry/entry.js';
import { ModernCallers } from './hosted/modern-callers.js';
import { UpstreamBackend } from './upstream/upstream-backend.js';

export type { Backend, BackendHooks, EndpointDeps, ProcessList } from './backend.js';
export { EntryError } from './entry/entry.js';

/** What the backends may need of the child. */
export interface BackendDeps {
  serverId: string;
  registry: SessionRegistry;
  logger: Logger;
  /** When this process started serving (the built-in `server_info` tool). */
  startedAt: Date;
  /** Sessions since the first start of this server id (the built-in tools). */
  totalConnections: () => number;
  /** The environment of the child, whose safe part `--command` processes get. */
  env: NodeJS.ProcessEnv;
}

/** The backend the settings ask for. An `--entry` module that does not load throws EntryError. */
export async function backendFor(s: Pick<Settings, 'entry' | 'upstream' | 'command' | 'maxSessions' | 'trustProxy' | 'heartbeatMs'>, d: BackendDeps): Promise<Backend> {
  if (s.upstream) return new UpstreamBackend({ url: s.upstream, maxSessions: s.maxSessions, trustProxy: s.trustProxy, probeMs: s.heartbeatMs, logger: d.logger });
  if (s.command) return commandBackend({ command: s.command, registry: d.registry, logger: d.logger, refreshMs: s.heartbeatMs, env: stdioEnv(d.env) });
  if (s.entry) return entryBackend(s.entry);
  return builtinBackend({ serverId: d.serverId, registry: d.registry, startedAt: d.startedAt, totalConnections: d.totalConnections, callers: new ModernCallers() });
}
