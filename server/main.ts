/**
 * `mcp-monitor server`: one MCP child. Chooses its backend once (server/backends/index.ts) and
 * hands it to the writer's wiring (server/writer-run.ts: the writer lock, the snapshot writer,
 * the journal, the backend and its endpoint, the control directory, started in that order and
 * closed in reverse); owns what is its alone: the settings, SIGINT/SIGTERM, and the lifeline to
 * the parent API, whose going stops it. When the lock is lost, nothing more is written (no
 * snapshot, no journal line) and the process exits 1.
 */
import { createLogger } from '../shared/io/logger.js';
import { parseLogLevel } from '../shared/log-level.js';
import { ensureServerDir, ensureStateDir, stateDirLabel } from '../shared/io/state-dir.js';
import { RECLAIM_PID_ENV, UsageError, parseCommand, settingsHelp, type SettingKey } from '../shared/settings.js';
import { backendFor, EntryError, type Backend } from './backends/index.js';
import { ParentLink } from './parent-link.js';
import { SessionRegistry } from './sessions/session-registry.js';
import { runWriter, WriterStartError } from './writer-run.js';

export const SERVER_SETTINGS = [
  'mcpPort', 'mcpHost', 'stateDir', 'serverId', 'heartbeatMs', 'maxSessions', 'sessionIdleMs', 'entry', 'upstream', 'command', 'trustProxy',
  'allowedHosts', 'clientWindowMs', 'journalMaxBytes', 'journalFiles', 'calls', 'callsMaxBytes', 'callsFiles',
] as const satisfies readonly SettingKey[];

/**
 * Internal, for tests only (users never set it): how long after its GET stream closed a silent
 * session ends, in ms (McpHost `goneGraceMs`, default 5000).
 */
export const GONE_GRACE_MS_ENV = 'MCP_MONITOR_GONE_GRACE_MS';
/**
 * Internal, for tests only (users never set it): how long writes caused only by activity wait
 * to batch, in ms (SnapshotWriter `activityDelayMs`, default 250).
 */
export const ACTIVITY_DELAY_MS_ENV = 'MCP_MONITOR_ACTIVITY_DELAY_MS';

/** A positive integer from an internal env var, else undefined. */
function internalMs(name: string): number | undefined {
  const n = Number(process.env[name]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

function fail(message: string, code: number): void {
  process.stderr.write(`mcp-monitor server: ${message}\n`);
  process.exitCode = code;
}

export async function main(argv: string[]): Promise<void> {
  // First of all: the API that spawned us may go at any moment from now on.
  const parent = new ParentLink();
  if (parent.gone) return fail('the API that spawned this server has gone; not starting', EXIT_FAILURE);
  const cwd = process.cwd();
  let parsed;
  try {
    parsed = parseCommand('server', argv, process.env, SERVER_SETTINGS, { cwd });
    if (parsed.flags.help) {
      process.stdout.write(`Usage: mcp-monitor server [options]\n\nRuns one MCP server and publishes its connections in the state directory.\n\n${settingsHelp(SERVER_SETTINGS, cwd)}\n`);
      return;
    }
    parseLogLevel(process.env.MCP_MONITOR_LOG_LEVEL);
    await ensureStateDir(parsed.settings.stateDir, stateDirLabel(parsed.sources.stateDir));
    await ensureServerDir(parsed.settings.stateDir, parsed.settings.serverId);
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, EXIT_USAGE);
    throw err;
  }
  const s = parsed.settings;
  // Asynchronous: a parent that does not read our stderr must never stall the MCP server.
  const log = createLogger('server', parseLogLevel(process.env.MCP_MONITOR_LOG_LEVEL), { async: true }).child({ serverId: s.serverId });

  const registry = new SessionRegistry();
  const startedAt = new Date();
  let backend: Backend;
  try {
    backend = await backendFor(s, { serverId: s.serverId, registry, logger: log, startedAt, totalConnections: () => writer.totalConnections, env: process.env });
  } catch (err) {
    if (err instanceof EntryError || err instanceof UsageError) return fail(err.message, EXIT_USAGE);
    throw err;
  }
  // The first log line (after the usage checks, whose error is the one line on stderr).
  const from = { flag: 'from --state-dir', env: 'from MCP_MONITOR_STATE_DIR', default: 'the default' }[parsed.sources.stateDir];
  log.info({ stateDir: s.stateDir, stateDirFrom: parsed.sources.stateDir }, `state directory ${s.stateDir} (${from})`);
  const run = runWriter({
    settings: s,
    registry,
    backend,
    endpoint: {
      host: s.mcpHost,
      port: s.mcpPort,
      maxSessions: s.maxSessions,
      sessionIdleMs: s.sessionIdleMs,
      clientWindowMs: s.clientWindowMs,
      trustProxy: s.trustProxy,
      allowedHosts: s.allowedHosts,
      goneGraceMs: internalMs(GONE_GRACE_MS_ENV),
    },
    log,
    reclaimPid: internalMs(RECLAIM_PID_ENV),
    activityDelayMs: internalMs(ACTIVITY_DELAY_MS_ENV),
    startedAt,
  });
  const writer = run.writer;
  let stopping = false;
  const shutdown = async (why: string, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await run.shutdown(why, exitCode);
    process.exitCode = await run.stopped;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await parent.close();
  };
  const onSignal = (signal: NodeJS.Signals) => void shutdown(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Spawned by the API: when it goes (or went while this one was loading), so does this one.
  parent.onGone(() => void shutdown('parent API went away'));
  // The lock lost: the run stops itself (exit code 1); so does this process.
  void run.stopped.then(() => shutdown('stopped'));

  try {
    await run.start();
  } catch (err) {
    if (!(err instanceof WriterStartError)) throw err;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await parent.close();
    return fail(err.message, err.exitCode);
  }
}
