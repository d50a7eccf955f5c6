/**
 * `mcp-monitor server`: one MCP child. Wires the registry, the snapshot writer and the MCP
 * host, starts them in that order and closes them in reverse on SIGINT/SIGTERM or when the
 * parent API goes away.
 */
import type { Logger } from 'pino';
import { createLogger } from '../shared/logger.js';
import { ensureStateDir } from '../shared/state-dir.js';
import { RECLAIM_PID_ENV, UsageError, parseCommand, settingsHelp, type SettingKey } from '../shared/settings.js';
import { builtinServerFactory } from './builtin-server.js';
import { EntryError, loadEntry, type ServerFactory } from './load-entry.js';
import { JournalWriter } from './journal-writer.js';
import { McpHost } from './mcp-host.js';
import { SessionJournal } from './session-journal.js';
import { SessionRegistry } from './session-registry.js';
import { SnapshotWriter, WriterLockedError } from './snapshot-writer.js';

export const SERVER_SETTINGS = [
  'mcpPort', 'mcpHost', 'stateDir', 'serverId', 'heartbeatMs', 'maxSessions', 'sessionIdleMs', 'entry', 'trustProxy',
  'allowedHosts', 'journalMaxBytes', 'journalFiles',
] as const satisfies readonly SettingKey[];

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

function fail(message: string, code: number): void {
  process.stderr.write(`mcp-monitor server: ${message}\n`);
  process.exitCode = code;
}

export async function main(argv: string[]): Promise<void> {
  const cwd = process.cwd();
  let parsed;
  try {
    parsed = parseCommand('server', argv, process.env, SERVER_SETTINGS, { cwd });
    if (parsed.flags.help) {
      process.stdout.write(`Usage: mcp-monitor server [options]\n\nRuns one MCP server and publishes its connections in the state directory.\n\n${settingsHelp(SERVER_SETTINGS, cwd)}\n`);
      return;
    }
    await ensureStateDir(parsed.settings.stateDir);
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, EXIT_USAGE);
    throw err;
  }
  const s = parsed.settings;
  const log = createLogger('server', process.env.MCP_MONITOR_LOG_LEVEL).child({ serverId: s.serverId });

  const registry = new SessionRegistry();
  const startedAt = new Date();
  let factory: ServerFactory;
  try {
    factory = s.entry ? await loadEntry(s.entry) : builtinServerFactory({ serverId: s.serverId, registry, startedAt, totalConnections: () => writer.totalConnections });
  } catch (err) {
    if (err instanceof EntryError) return fail(err.message, EXIT_USAGE);
    throw err;
  }
  const reclaim = Number(process.env[RECLAIM_PID_ENV]);
  const writer = new SnapshotWriter({
    stateDir: s.stateDir,
    serverId: s.serverId,
    heartbeatMs: s.heartbeatMs,
    registry,
    logger: log.child({ component: 'snapshot-writer' }),
    reclaimPid: Number.isSafeInteger(reclaim) && reclaim > 0 ? reclaim : undefined,
  });
  const host = new McpHost({
    host: s.mcpHost,
    port: s.mcpPort,
    registry,
    createServer: factory,
    logger: log.child({ component: 'mcp-host' }),
    maxSessions: s.maxSessions,
    sessionIdleMs: s.sessionIdleMs,
    trustProxy: s.trustProxy,
    allowedHosts: s.allowedHosts,
  });
  logSessions(registry, log);
  // After the writer: its registry listeners run first, so `seq` already counts the change.
  const journal = new JournalWriter({ stateDir: s.stateDir, serverId: s.serverId, maxBytes: s.journalMaxBytes, files: s.journalFiles, logger: log.child({ component: 'journal' }) });
  const sessionJournal = new SessionJournal({ serverId: s.serverId, registry, journal, seq: () => writer.seq });
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
      await writer.markStopping().catch(() => undefined);
      await host.close();
      await writer.flush();
      // The final `stopped` snapshot is the next one; the journal closes while we hold the lock.
      if (writer.last) sessionJournal.stop(writer.seq + 1);
      await journal.close();
      await writer.close();
      process.exitCode = exitCode;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      log.info('stopped');
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => void shutdown(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Spawned by the API with an IPC channel: it closes when the API exits, even by SIGKILL.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => void shutdown('parent API went away'));
  }
  writer.on('compromised', (err) => {
    log.error({ err: err.message }, 'snapshot lock lost (another writer took it over); stopping without writing');
    void shutdown('lock compromised', EXIT_FAILURE);
  });

  try {
    await writer.start();
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (err instanceof WriterLockedError) return fail(err.message, EXIT_FAILURE);
    return fail(`cannot publish snapshots in ${s.stateDir}: ${(err as Error).message}`, EXIT_FAILURE);
  }
  if (stopping) return;
  // The lock is ours: the journal is ours to append. Failing to open it never stops the server.
  await journal.start().catch((err: Error) => log.error({ err: err.message, file: journal.file }, 'journal unavailable; will retry on the next event'));
  sessionJournal.start(new Date(writer.last?.startedAt ?? startedAt), s.heartbeatMs);
  try {
    const endpoint = await host.start();
    await writer.markRunning(endpoint);
    log.info({ url: endpoint.url, snapshot: writer.file }, 'MCP server listening');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${s.mcpPort} on ${s.mcpHost} is already in use (--mcp-port)` : e.code === 'EADDRNOTAVAIL' ? `cannot bind ${s.mcpHost} (--mcp-host)` : e.message;
    process.stderr.write(`mcp-monitor server: ${why}\n`);
    await shutdown('could not listen', EXIT_FAILURE);
  }
}

function logSessions(registry: SessionRegistry, log: Logger): void {
  registry.on('connect', (c) => {
    log.info({ sessionId: c.sessionId, clientIP: c.clientIP, client: c.clientInfo?.name, userAgent: c.userAgent }, 'session started');
  });
}
