/**
 * `mcp-monitor start`: the API. Starts the snapshot watcher, spawns and supervises the MCP
 * child, serves REST, SSE, socket.io, /metrics and the dashboard; on SIGINT/SIGTERM closes
 * them in reverse order.
 */
import { access } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { allowedHostNames, isLoopbackHost } from '../shared/host-check.js';
import { createLogger } from '../shared/logger.js';
import { ensureStateDir } from '../shared/state-dir.js';
import { SETTINGS, UsageError, parseCommand, settingsHelp, type SettingKey, type Settings } from '../shared/settings.js';
import { createApiServer } from './api-server.js';
import { createApp } from './app.js';
import { ChildSupervisor } from './child-supervisor.js';
import { Metrics } from './metrics.js';
import { MonitoringNamespace } from './monitoring-namespace.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { metricsRoutes } from './routes/metrics.js';
import { ServerCatalog } from './server-catalog.js';
import { reapSnapshotProcesses } from '../shared/process-groups.js';
import { SnapshotWatcher } from './snapshot-watcher.js';
import { SseHub } from './sse-hub.js';

export const START_SETTINGS = Object.keys(SETTINGS) as SettingKey[];

/** The settings the child takes, passed on as flags (the child never guesses from env). */
const CHILD_SETTINGS = ['mcpPort', 'mcpHost', 'stateDir', 'serverId', 'heartbeatMs', 'maxSessions', 'sessionIdleMs', 'entry', 'upstream', 'command', 'trustProxy', 'allowedHosts', 'clientWindowMs', 'journalMaxBytes', 'journalFiles'] as const;

const BIN = fileURLToPath(new URL('../../bin/mcp-monitor.js', import.meta.url));

function fail(message: string, code: number): void {
  process.stderr.write(`mcp-monitor start: ${message}\n`);
  process.exitCode = code;
}

/** `mcp-monitor server` arguments that reproduce the settings of the child. */
export function childArgs(s: Pick<Settings, (typeof CHILD_SETTINGS)[number]>): string[] {
  const args = [BIN, 'server'];
  for (const k of CHILD_SETTINGS) {
    const v = s[k];
    if (v === undefined || v === false || (Array.isArray(v) && v.length === 0)) continue;
    args.push(`--${SETTINGS[k].flag}`);
    args.push(Array.isArray(v) ? v.join(',') : String(v));
  }
  return args;
}

/** Warns (contract §5) when the API can be reached from elsewhere without a token, or reads any Host. */
function warnExposure(log: Logger, s: Settings, allowedHosts: ReadonlySet<string> | null): void {
  if (!isLoopbackHost(s.host) && !s.token) {
    log.warn({ host: s.host }, `API bound to ${s.host}, not a loopback address, without a token: anyone who reaches it reads every client's IP and session id (set MCP_MONITOR_TOKEN)`);
  }
  if (allowedHosts === null) {
    log.warn({ host: s.host }, `Host header not checked: bound to every interface (${s.host}) with no --allowed-hosts, so DNS rebinding is possible (list the names clients use with --allowed-hosts)`);
  }
}

/** `mcp-monitor start` with `argv` (flags after the command). */
export async function main(argv: string[]): Promise<void> {
  const cwd = process.cwd();
  let parsed;
  try {
    parsed = parseCommand('start', argv, process.env, START_SETTINGS, { cwd });
    if (parsed.flags.help) {
      process.stdout.write(`Usage: mcp-monitor start [options]\n\nRuns the API and the MCP server it supervises.\n\n${settingsHelp(START_SETTINGS, cwd)}\n`);
      return;
    }
    await ensureStateDir(parsed.settings.stateDir);
    const { entry } = parsed.settings;
    if (entry) await access(entry).catch(() => { throw new UsageError(`Invalid --entry: ${entry}: no such file`); });
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, 2);
    throw err;
  }
  const s = parsed.settings as Settings;
  const log = createLogger('api', process.env.MCP_MONITOR_LOG_LEVEL);
  const allowedHosts = allowedHostNames(s.host, s.allowedHosts);

  const watcher = new SnapshotWatcher({ stateDir: s.stateDir, logger: log.child({ component: 'snapshot-watcher' }), rescanMs: Math.min(s.heartbeatMs, 1000) });
  const supervisor = new ChildSupervisor({ serverId: s.serverId, args: childArgs(s), logger: log.child({ component: 'supervisor', serverId: s.serverId }) });
  const supervisors = new Map([[s.serverId, supervisor]]);
  const catalog = new ServerCatalog({ watcher, supervisors, defaultServerId: s.serverId });
  const sse = new SseHub({ jsonOf: (snap) => watcher.jsonOf(snap) });
  const metrics = new Metrics({ catalog });
  const app = createApp({ catalog, sse, allowedHosts, logger: log.child({ component: 'http' }), token: s.token, extra: [metricsRoutes(metrics)], publicRouters: [dashboardRoutes()] });
  const server = createApiServer(app);
  const monitoring = new MonitoringNamespace({ server, catalog, allowedHosts, token: s.token, logger: log.child({ component: 'socket.io' }) });

  watcher.on('snapshot', (snap) => {
    supervisors.get(snap.serverId)?.observe(snap);
    sse.broadcast(snap);
    monitoring.broadcast(snap.serverId);
  });
  watcher.on('error', (err) => log.error({ err: err.message }, 'snapshot watcher error'));
  supervisor.on('state', (state, previous) => log.info({ serverId: s.serverId, state, previous }, 'MCP child state'));
  supervisor.on('exit', ({ pid, code, signal, expected, spawnError }) => {
    // A spawn that failed has no exit to tell: the supervisor logs why it failed.
    if (spawnError) return;
    const fields = { serverId: s.serverId, pid, code, signal, expected };
    if (expected) log.info(fields, 'MCP child exited');
    else log.warn(fields, 'MCP child exited');
    // A child that died without stopping its --command processes: end them (by the pids its
    // last snapshot lists, checked so that a reused pid is never killed).
    const last = watcher.get(s.serverId)?.snapshot;
    if (!expected && last && last.pid === pid && last.status !== 'stopped') {
      const reaped = reapSnapshotProcesses(last);
      if (reaped.length > 0) log.warn({ serverId: s.serverId, pid, reaped }, 'ended the stdio server processes the dead child left');
    }
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (why: string, exitCode = 0): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why }, 'shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      sse.close();
      await monitoring.close();
      server.closeIdleConnections();
      await Promise.all([...supervisors.values()].map((sup) => sup.close()));
      await watcher.close();
      server.closeAllConnections();
      await closed;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.exitCode = exitCode;
      log.info('stopped');
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => void shutdown(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await watcher.start();
    await monitoring.start();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(s.port, s.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${s.port} on ${s.host} is already in use (--port)` : e.code === 'EADDRNOTAVAIL' ? `cannot bind ${s.host} (--host)` : e.message;
    process.stderr.write(`mcp-monitor start: ${why}\n`);
    await shutdown('could not start', 1);
    return;
  }
  const { port } = server.address() as AddressInfo;
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  log.info({ url: `http://${host}:${port}/`, port, stateDir: s.stateDir, auth: Boolean(s.token) }, 'API listening');
  warnExposure(log, s, allowedHosts);
  await supervisor.start();
  supervisor.waitUntilRunning(30_000).then(
    () => log.info({ serverId: s.serverId }, 'ready'),
    (err: Error) => log.warn({ err: err.message }, 'MCP child is not running yet'),
  );
}
