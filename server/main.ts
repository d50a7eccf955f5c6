/**
 * `mcp-monitor server`: one MCP child. Chooses its backend once (server/backends/index.ts) and
 * wires the registry, the writer lock, the snapshot writer, the journal (JournalWriter and
 * SessionJournal, fed by publishSessions), the backend and its endpoint, and the control
 * directory; starts them in that order and closes them in reverse on SIGINT/SIGTERM or when
 * the parent API goes away. When the lock is lost, nothing more is written (no snapshot, no
 * journal line) and the process exits 1.
 */
import { createLogger, parseLogLevel } from '../shared/logger.js';
import { ensureServerDir, ensureStateDir, stateDirLabel } from '../shared/state-dir.js';
import { serverDir } from '../shared/paths.js';
import { RECLAIM_PID_ENV, UsageError, parseCommand, settingsHelp, type SettingKey } from '../shared/settings.js';
import { ControlDirectory } from './control/control-directory.js';
import { backendFor, EntryError, type Backend } from './backends/index.js';
import { JournalWriter } from './publish/journal-writer.js';
import { ParentLink } from './parent-link.js';
import { OperationRecorder } from './operations/operation-recorder.js';
import { publishSessions } from './publish/publish-sessions.js';
import { SessionJournal } from './publish/session-journal.js';
import { SessionRegistry } from './sessions/session-registry.js';
import { SnapshotWriter } from './publish/snapshot-writer.js';
import { WriterLock, WriterLockedError } from './publish/writer-lock.js';

export const SERVER_SETTINGS = [
  'mcpPort', 'mcpHost', 'stateDir', 'serverId', 'heartbeatMs', 'maxSessions', 'sessionIdleMs', 'entry', 'upstream', 'command', 'trustProxy',
  'allowedHosts', 'clientWindowMs', 'journalMaxBytes', 'journalFiles',
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
  const lock = new WriterLock({
    stateDir: s.stateDir,
    serverId: s.serverId,
    logger: log.child({ component: 'writer-lock' }),
    reclaimPid: internalMs(RECLAIM_PID_ENV),
  });
  // What clients ask for: the host records requests, publishSessions the ended connections.
  const recorder = new OperationRecorder();
  const writer = new SnapshotWriter({
    stateDir: s.stateDir,
    serverId: s.serverId,
    heartbeatMs: s.heartbeatMs,
    registry,
    lock,
    recorder,
    ...(backend.processes && { processes: backend.processes }),
    backend: () => backend.published(),
    logger: log.child({ component: 'snapshot-writer' }),
    activityDelayMs: internalMs(ACTIVITY_DELAY_MS_ENV),
  });
  const host = backend.endpoint({
    host: s.mcpHost,
    port: s.mcpPort,
    registry,
    recorder,
    logger: log.child({ component: 'mcp-host' }),
    maxSessions: s.maxSessions,
    sessionIdleMs: s.sessionIdleMs,
    clientWindowMs: s.clientWindowMs,
    trustProxy: s.trustProxy,
    allowedHosts: s.allowedHosts,
    goneGraceMs: internalMs(GONE_GRACE_MS_ENV),
    serverDir: serverDir(s.stateDir, s.serverId),
  });
  const journal = new JournalWriter({ stateDir: s.stateDir, serverId: s.serverId, lock, maxBytes: s.journalMaxBytes, files: s.journalFiles, logger: log.child({ component: 'journal' }) });
  // Requests to end sessions (see shared/control-request.ts), carried out by whichever host serves.
  const controlLog = log.child({ component: 'control' });
  const control = new ControlDirectory({ stateDir: s.stateDir, serverId: s.serverId, registry, sessions: host, logger: controlLog });
  const sessionJournal = new SessionJournal({ serverId: s.serverId, journal, seq: () => writer.seq });
  publishSessions({ registry, writer, sessionJournal, recorder, log });
  let failedAppends = 0;
  journal.on('error', (err) => {
    failedAppends += 1;
    // Like the snapshot writes: the first failure, then every 100th.
    if (failedAppends === 1 || failedAppends % 100 === 0) log.error({ err: err.message, failedAppends }, 'journal append failed; line dropped');
  });

  let failedWrites = 0;
  writer.on('error', (err) => {
    failedWrites += 1;
    // One line per failure would flood the log when the disk is full: the first, then every 100th.
    if (failedWrites === 1 || failedWrites % 100 === 0) log.error({ err: err.message, failedWrites }, 'snapshot write failed; retrying');
  });
  writer.on('written', () => {
    if (failedWrites > 0) log.info({ failedWrites }, 'snapshot writes recovered');
    failedWrites = 0;
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (why: string, exitCode = 0): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why }, 'shutting down');
      // Never rejects: a failed write is reported as an 'error' event and given up after a few tries.
      await writer.markStopping();
      await control.close();
      await host.close();
      await backend.close();
      await writer.flush();
      // The final `stopped` snapshot is the next one; the journal closes while we hold the lock.
      if (writer.last && lock.held) sessionJournal.stop(writer.seq + 1);
      await journal.close();
      await writer.close();
      await lock.close();
      process.exitCode = exitCode;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await parent.close();
      log.info('stopped');
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => void shutdown(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Spawned by the API: when it goes (or went while this one was loading), so does this one.
  parent.onGone(() => void shutdown('parent API went away'));
  lock.on('compromised', (err) => {
    // The writer and the journal have stopped writing already (they listen too). The journal must
    // not even queue the `disconnect … shutdown` lines of the host closing below: they would land
    // after the next writer's `start` (see shared/replay.ts).
    sessionJournal.detach();
    log.error({ err: err.message }, 'snapshot lock lost (another writer took it over); stopping without writing');
    void shutdown('lock compromised', EXIT_FAILURE);
  });

  try {
    await lock.start();
    if (stopping) return;
    await writer.start();
  } catch (err) {
    await lock.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await parent.close();
    if (err instanceof WriterLockedError) return fail(err.message, EXIT_FAILURE);
    if (err instanceof UsageError) return fail(err.message, EXIT_USAGE);
    return fail(`cannot publish snapshots in ${s.stateDir}: ${(err as Error).message}`, EXIT_FAILURE);
  }
  // Stopped meanwhile (a signal, or the lock lost while starting): start nothing more.
  if (stopping) return;
  // The lock is ours: the journal is ours to append. Failing to open it never stops the server.
  await journal.start().catch((err: Error) => log.error({ err: err.message, file: journal.file }, 'journal unavailable; will retry on the next event'));
  sessionJournal.start(new Date(writer.last?.startedAt ?? startedAt), s.heartbeatMs, writer.abandoned);
  try {
    // What the backend runs beside its sessions; a change of what it publishes is written soon.
    await backend.start({ changed: () => writer.request('heartbeat') });
    const endpoint = await host.start();
    // Before `running`: whoever sees a session listed can ask to end it. Never fatal: without
    // it the MCP server serves on, only ending sessions on request is off.
    await control.start().catch((err: Error) => controlLog.error({ err: err.message }, 'control requests are off (sessions cannot be ended on request)'));
    await writer.markRunning(endpoint);
    log.info({ url: endpoint.url, snapshot: writer.file }, 'MCP server listening');
  } catch (err) {
    // Stopped while starting (a signal, the API gone, the lock lost): the host's start() rejects
    // for that alone (server/endpoint/endpoint-lifecycle.ts), and the shutdown under way goes on.
    if (stopping) return;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${s.mcpPort} on ${s.mcpHost} is already in use (--mcp-port)` : e.code === 'EADDRNOTAVAIL' ? `cannot bind ${s.mcpHost} (--mcp-host)` : e.message;
    process.stderr.write(`mcp-monitor server: ${why}\n`);
    await shutdown('could not listen', EXIT_FAILURE);
  }
}
