/**
 * The servers one API supervises: one {@link ChildSupervisor} each, with its own settings,
 * backoff and restarts. Without `--config` it is one server made of the flags;
 * with it, the servers of the file, in its order. The children's own logs and exits go to the
 * API's log here, and a child that died leaving its `--command` processes gets them ended.
 */
import { lstat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { COMMAND_ENV } from '../shared/child-env.js';
import type { ServerConfig } from '../shared/config-file.js';
import { snapshotPath } from '../shared/paths.js';
import { logReaped, reapSnapshotProcesses } from '../shared/io/process-groups.js';
import { readSnapshotFile } from '../shared/io/read-snapshot.js';
import { SETTINGS, type Settings } from '../shared/settings.js';
import { ChildSupervisor } from './child-supervisor.js';

/** The settings the child takes, passed on as flags. */
const CHILD_SETTINGS = ['mcpPort', 'mcpHost', 'stateDir', 'serverId', 'heartbeatMs', 'maxSessions', 'sessionIdleMs', 'entry', 'upstream', 'command', 'trustProxy', 'allowedHosts', 'clientWindowMs', 'calls', 'callsMaxBytes', 'callsFiles', 'journalMaxBytes', 'journalFiles'] as const;

/** Everything a child needs to know. */
export type ChildSettings = Pick<Settings, (typeof CHILD_SETTINGS)[number]>;

const BIN = fileURLToPath(new URL('../../bin/mcp-monitor.js', import.meta.url));

/**
 * Settings handed to the child by its environment, never as a flag: `/proc/<pid>/cmdline` is
 * readable by every local user, and an upstream URL may hold a user name and password (or a key).
 */
const ENV_ONLY_SETTINGS = ['upstream'] as const;

/** `mcp-monitor server` arguments that reproduce the settings of the child, but those of {@link childEnv}. */
export function childArgs(s: ChildSettings): string[] {
  const args = [BIN, 'server'];
  for (const k of CHILD_SETTINGS) {
    if ((ENV_ONLY_SETTINGS as readonly string[]).includes(k)) continue;
    const v = s[k];
    if (v === undefined || v === false || (Array.isArray(v) && v.length === 0)) continue;
    args.push(`--${SETTINGS[k].flag}`);
    args.push(Array.isArray(v) ? v.join(',') : String(v));
  }
  return args;
}

/**
 * The environment of a child: the API's, without the variables of the child's settings (the
 * child gets the others as flags; with `--config` their variables must not reach it, and
 * without, they hold what the flags say anyway) and without `MCP_MONITOR_CONFIG`; plus the
 * settings that never go on a command line (the upstream URL), and, for a `command` server,
 * its `env` as {@link COMMAND_ENV} (`{}` when it has none). The supervisor drops the token.
 */
export function childEnv(base: NodeJS.ProcessEnv, s: Pick<ChildSettings, 'upstream' | 'command'>, commandEnv: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env = { ...base };
  for (const k of CHILD_SETTINGS) delete env[SETTINGS[k].env];
  delete env[SETTINGS.config.env];
  delete env[COMMAND_ENV];
  for (const k of ENV_ONLY_SETTINGS) {
    const v = s[k];
    if (typeof v === 'string') env[SETTINGS[k].env] = v;
  }
  if (s.command !== undefined) env[COMMAND_ENV] = JSON.stringify(commandEnv);
  return env;
}

export interface FleetOptions {
  /** The servers, in order; the first is the default server of the routes. */
  servers: readonly ServerConfig[];
  stateDir: string;
  /** The environment the children start from (`process.env`). */
  env: NodeJS.ProcessEnv;
  /** The children's working directory: the config file's, so that relative paths of a `command` are relative to the file. Default the API's. */
  cwd?: string;
  logger: Logger;
}

/**
 * Ends the `--command` processes that the child `pid` of `serverId`, now exited, left: those its
 * snapshot file (read fresh: the watcher's copy may be behind) still lists in `processes`, each
 * only on an exact identity match. A child that stopped cleanly lists none. Never rejects.
 */
async function reapAfter(stateDir: string, serverId: string, pid: number, log: Logger): Promise<void> {
  const file = snapshotPath(stateDir, serverId);
  try {
    // Never through a link (as the next child's previous-state): the file's content becomes kill(2).
    if ((await lstat(file)).isSymbolicLink()) return log.warn({ pid, file }, 'the snapshot of the exited child is a symbolic link; its stdio server processes are not ended from it');
    const last = await readSnapshotFile(file);
    // Another writer's file (the next child already started, or none of ours): not ours to act on.
    if (last.pid !== pid) return;
    logReaped(log, reapSnapshotProcesses(last), 'ended the stdio server processes the dead child left', { pid });
  } catch (err) {
    // ENOENT: the child never wrote one; anything else: nothing listed that we can trust.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ pid, err: (err as Error).message }, 'cannot read the snapshot of the exited child to end its stdio server processes');
  }
}

/** One supervisor per server, keyed by id in the given order; none started yet. */
export function buildFleet(o: FleetOptions): Map<string, ChildSupervisor> {
  const fleet = new Map<string, ChildSupervisor>();
  for (const server of o.servers) {
    const serverId = server.id;
    const log = o.logger.child({ component: 'supervisor', serverId });
    const sup = new ChildSupervisor({
      serverId,
      args: childArgs({ ...server.settings, stateDir: o.stateDir, serverId }),
      env: childEnv(o.env, server.settings, server.env),
      ...(o.cwd !== undefined && { cwd: o.cwd }),
      autostart: server.autostart,
      logger: log,
    });
    sup.on('state', (state, previous) => log.info({ state, previous }, 'MCP child state'));
    sup.on('exit', ({ pid, code, signal, expected, spawnError }) => {
      // Runs inside the child's 'exit' event: a throw here would crash the API and every child
      // with it. Nothing may escape.
      try {
        // A spawn that failed has no exit to tell: the supervisor logs why it failed.
        if (spawnError || pid === undefined) return;
        if (expected) log.info({ pid, code, signal, expected }, 'MCP child exited');
        else log.warn({ pid, code, signal, expected }, 'MCP child exited');
        // A child that died before its --command processes did (a crash, or a SIGKILL after the
        // stop timeout) leaves them listed: end them.
        void reapAfter(o.stateDir, serverId, pid, log);
      } catch (err) {
        log.error({ pid, err: (err as Error).message }, 'handling the exit of the MCP child failed');
      }
    });
    fleet.set(serverId, sup);
  }
  return fleet;
}

/**
 * Starts the children of `fleet` a few at a time: `atOnce` (the cores) starting together, the
 * next one as soon as one of them is running or has failed its start (backoff, fatal) or
 * `settleMs` passed. Started all at once, 50 Node children on 2 cores each take longer than
 * the supervisor's ready timeout: all are killed and restarted together, and most end `fatal`
 * (seen with the fleet bench). A server waiting for its turn says `starting`. Resolves when
 * every server has been started; `closing()` true stops it there.
 */
export async function startFleet(fleet: ReadonlyMap<string, ChildSupervisor>, o: { atOnce: number; settleMs?: number; logger: Logger; closing: () => boolean }): Promise<void> {
  const queue = [...fleet.values()];
  const settleMs = o.settleMs ?? 30_000;
  const worker = async () => {
    for (let sup = queue.shift(); sup && !o.closing(); sup = queue.shift()) {
      await sup.start();
      if (!sup.wanted) continue;
      const state = await sup.settle(settleMs);
      if (state === 'running') o.logger.info({ serverId: sup.serverId }, 'ready');
      else o.logger.warn({ serverId: sup.serverId, state }, 'MCP child is not running yet');
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.atOnce, queue.length)) }, worker));
}
