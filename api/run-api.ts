/**
 * The API process of `mcp-monitor start` and `mcp-monitor watch`: the snapshot watcher, REST,
 * SSE, socket.io, /metrics and the dashboard over the state directory, plus one supervisor per
 * server to spawn (none for `watch`: every server found is then `external`). On SIGINT/SIGTERM
 * it closes them in reverse order.
 */
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { exposedSecrets, type FleetConfig, type ServerConfig } from '../shared/config-file.js';
import { allowedHostNames, isLoopbackHost } from '../shared/host-check.js';
import { createLogger } from '../shared/io/logger.js';
import { parseLogLevel } from '../shared/log-level.js';
import type { Settings } from '../shared/settings.js';
import { createApiServer } from './api-server.js';
import { createApp } from './app.js';
import { buildFleet, startFleet } from './fleet.js';
import { Metrics } from './metrics.js';
import { MonitoringNamespace } from './monitoring-namespace.js';
import { callsRoutes } from './routes/calls.js';
import { controlRoutes } from './routes/control.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { metricsRoutes } from './routes/metrics.js';
import { ServerCatalog } from './server-catalog.js';
import { SnapshotWatcher } from './snapshot-watcher.js';
import { WriterProbes } from './writer-probes.js';
import { SseHub } from './sse-hub.js';
import type { StateDirSource } from './start-settings.js';

/** The settings the API itself uses. */
export type ApiSettings = Pick<Settings, 'port' | 'host' | 'stateDir' | 'token' | 'allowedHosts' | 'serverId'>;

export interface RunApiOptions {
  /** The command, for error lines (`mcp-monitor <command>: …`). */
  command: 'start' | 'watch';
  settings: ApiSettings;
  /** Where `stateDir` came from (the first log line says it). */
  stateDirSource: StateDirSource;
  /** The servers to spawn and supervise; the first is the default server. Empty: spawn nothing. */
  servers: readonly ServerConfig[];
  /** The children's working directory (the config file's). */
  childCwd?: string;
  /** The config file read, to warn when others may read its secrets. */
  config?: FleetConfig;
}

/**
 * Warns when the API runs without a token (its write routes are then open to every local user;
 * bound elsewhere, to anyone who reaches it), or reads any Host.
 */
function warnExposure(log: Logger, s: ApiSettings, allowedHosts: ReadonlySet<string> | null): void {
  if (!s.token && !isLoopbackHost(s.host)) {
    log.warn({ host: s.host }, `API bound to ${s.host}, not a loopback address, without a token: anyone who reaches it reads every client's IP and session id, and its write routes (restart, stop, start, ending sessions) are open to them and to every local user (set MCP_MONITOR_TOKEN)`);
  } else if (!s.token) {
    log.warn({ host: s.host }, `API without a token: its write routes (restart, stop, start, ending sessions) are open to every local user (set MCP_MONITOR_TOKEN)`);
  }
  if (allowedHosts === null) {
    log.warn({ host: s.host }, `Host header not checked: bound to every interface (${s.host}) with no --allowed-hosts, so DNS rebinding is possible (list the names clients use with --allowed-hosts)`);
  }
}

/** Warns when other users may read the secrets of the config file (its mode allows group or others to read). */
function warnReadableConfig(log: Logger, config: FleetConfig | undefined): void {
  const keys = config ? exposedSecrets(config) : [];
  if (keys.length === 0) return;
  const mode = config!.mode!.toString(8).padStart(3, '0');
  log.warn({ file: config!.file, mode, keys }, `config file ${config!.file} holds secrets (${keys.join(', ')}) and other users may read it (mode ${mode}): chmod 600 it`);
}

/** How the first log line names where the state directory came from. */
export const STATE_DIR_FROM: Record<StateDirSource, string> = { flag: 'from --state-dir', env: 'from MCP_MONITOR_STATE_DIR', config: 'from the config file', default: 'the default' };

/** Runs the API until SIGINT/SIGTERM; the settings are checked and the state directory made. */
export async function runApi(o: RunApiOptions): Promise<void> {
  const s = o.settings;
  const log = createLogger('api', parseLogLevel(process.env.MCP_MONITOR_LOG_LEVEL));
  const spawning = o.servers.length > 0;
  log.info({ stateDir: s.stateDir, stateDirFrom: o.stateDirSource, servers: o.servers.length }, `state directory ${s.stateDir} (${STATE_DIR_FROM[o.stateDirSource]})${spawning ? '' : '; watching only, spawning nothing'}`);
  const allowedHosts = allowedHostNames(s.host, s.allowedHosts);
  // Rescan at least as often as the fastest heartbeat, and at least every second.
  const rescanMs = Math.min(1000, ...o.servers.map((x) => x.settings.heartbeatMs));

  const watcher = new SnapshotWatcher({ stateDir: s.stateDir, logger: log.child({ component: 'snapshot-watcher' }), rescanMs });
  const supervisors = buildFleet({ servers: o.servers, stateDir: s.stateDir, env: process.env, ...(o.childCwd !== undefined && { cwd: o.childCwd }), logger: log });
  const probes = new WriterProbes({ watcher });
  const catalog = new ServerCatalog({ watcher, supervisors, defaultServerId: o.servers[0]?.id ?? s.serverId, probes });
  const sse = new SseHub({ jsonOf: (snap) => watcher.jsonOf(snap) });
  const metrics = new Metrics({ catalog, sessionCaps: new Map(o.servers.map((x) => [x.id, x.settings.maxSessions])) });
  const control = controlRoutes({ catalog, stateDir: s.stateDir, logger: log.child({ component: 'control' }) });
  const app = createApp({ catalog, sse, allowedHosts, logger: log.child({ component: 'http' }), token: s.token, extra: [control, callsRoutes({ catalog, stateDir: s.stateDir, logger: log.child({ component: 'calls' }) }), metricsRoutes(metrics)], publicRouters: [dashboardRoutes()] });
  const server = createApiServer(app);
  const monitoring = new MonitoringNamespace({ server, catalog, allowedHosts, token: s.token, logger: log.child({ component: 'socket.io' }) });

  watcher.on('snapshot', (snap) => {
    supervisors.get(snap.serverId)?.observe(snap);
    sse.broadcast(snap);
    monitoring.broadcast(snap.serverId);
  });
  watcher.on('error', (err) => log.error({ err: err.message }, 'snapshot watcher error'));

  let stopping: Promise<void> | undefined;
  const shutdown = (why: string, exitCode = 0): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why }, 'shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Ended now; a stream that cannot end (its socket not drained) closes with the connections below.
      const sseClosed = sse.close();
      await monitoring.close();
      server.closeIdleConnections();
      await Promise.all([...supervisors.values()].map((sup) => sup.close()));
      await probes.close();
      await watcher.close();
      server.closeAllConnections();
      await Promise.all([closed, sseClosed]);
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
    probes.start();
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
    process.stderr.write(`mcp-monitor ${o.command}: ${why}\n`);
    await shutdown('could not start', 1);
    return;
  }
  const { port } = server.address() as AddressInfo;
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  log.info({ url: `http://${host}:${port}/`, port, stateDir: s.stateDir, auth: Boolean(s.token) }, 'API listening');
  warnExposure(log, s, allowedHosts);
  warnReadableConfig(log, o.config);
  if (spawning) void startFleet(supervisors, { atOnce: availableParallelism(), logger: log, closing: () => stopping !== undefined });
}
