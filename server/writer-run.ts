/**
 * What every writer of a server id runs, whatever feeds its connection map (`mcp-monitor server`
 * with its backend from server/backends/index.ts, `mcp-monitor wrap` with its stdio front): the
 * writer lock, the snapshot writer, the journal (JournalWriter and SessionJournal, fed by
 * publishSessions), the calls journal (CallsJournal, one of the writer's RequestObservers, unless
 * `--calls off`), the backend and its endpoint, and the control directory; started in that
 * order and closed in reverse. When the lock is lost, nothing more is written (no snapshot, no
 * journal line) and the run stops with exit code 1. The caller owns signals and the exit code.
 */
import type { Logger } from 'pino';
import { serverDir } from '../shared/paths.js';
import { UsageError, type Settings } from '../shared/settings.js';
import type { Backend, EndpointDeps } from './backends/backend.js';
import { ControlDirectory } from './control/control-directory.js';
import { RequestObservers } from './operations/finished-request.js';
import { OperationRecorder } from './operations/operation-recorder.js';
import { CallsJournal } from './publish/calls-journal.js';
import { ToolCatalog } from './operations/tool-catalog.js';
import { JournalWriter } from './publish/journal-writer.js';
import { publishSessions } from './publish/publish-sessions.js';
import { SessionJournal } from './publish/session-journal.js';
import { SnapshotWriter } from './publish/snapshot-writer.js';
import { WriterLock, WriterLockedError } from './publish/writer-lock.js';
import type { SessionRegistry } from './sessions/session-registry.js';

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

/** The run could not start; `message` is the one line for stderr, `exitCode` what to exit with. */
export class WriterStartError extends Error {
  readonly code = 'EWRITERSTART';
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WriterStartError';
  }
}

/** Options of {@link runWriter}. */
export interface WriterRunOptions {
  settings: Pick<Settings, 'stateDir' | 'serverId' | 'heartbeatMs' | 'journalMaxBytes' | 'journalFiles' | 'calls' | 'callsMaxBytes' | 'callsFiles'>;
  registry: SessionRegistry;
  backend: Backend;
  /** What the endpoint gets beside the registry, the request observers, its logger and the server directory. */
  endpoint: Omit<EndpointDeps, 'registry' | 'requests' | 'logger' | 'serverDir'>;
  log: Logger;
  /** The lock of the server id, already held (wrap takes it while choosing its id); default: taken by start(). */
  lock?: WriterLock;
  /** Pid of a dead previous writer whose lock may be taken over at once (see WriterLock). */
  reclaimPid?: number;
  /** The snapshot's `operations`; default a fresh one (wrap's tap records into its own from the start). */
  recorder?: OperationRecorder;
  /**
   * What the endpoint tells of every ended request; default a fresh fan-out with `recorder`
   * added. One given (wrap's, told by its tap before the writer is built) must hold `recorder`
   * already; the writer's other observers are added to it here.
   */
  requests?: RequestObservers;
  /** The server's tools (the snapshot's `catalog`); default a fresh one. Told the `tools/list` pages through `requests`. */
  catalog?: ToolCatalog;
  /** SnapshotWriter `activityDelayMs`. */
  activityDelayMs?: number;
  /** When this process started serving (the journal's `start` line of a first run). Default now. */
  startedAt?: Date;
  /** Called when the lock is lost, before the run stops (exit code 1). */
  onLockLost?: () => void;
}

/** One writer's publishing: {@link runWriter}. */
export interface WriterRun {
  readonly writer: SnapshotWriter;
  readonly lock: WriterLock;
  /** What every endpoint tells of the requests it served (the operations, the calls journal, and any observer added). */
  readonly requests: RequestObservers;
  /**
   * Takes the lock (unless given), starts the writer, the journal, the backend, the endpoint and
   * the control directory, and marks the server running. Rejects with {@link WriterStartError}
   * (having undone what it started) when it cannot; resolves also when a shutdown came meanwhile.
   */
  start(): Promise<void>;
  /** Stops it all in reverse order; the same promise every time. */
  shutdown(why: string, exitCode?: number): Promise<void>;
  /** Whether a shutdown began. */
  readonly stopping: boolean;
  /** Resolves with the exit code once stopped. */
  readonly stopped: Promise<number>;
}

/** Builds the publishing of one writer (see the file comment); nothing runs until `start()`. */
export function runWriter(o: WriterRunOptions): WriterRun {
  const { settings: s, registry, backend, log } = o;
  const lock = o.lock ?? new WriterLock({ stateDir: s.stateDir, serverId: s.serverId, logger: log.child({ component: 'writer-lock' }), reclaimPid: o.reclaimPid });
  // What clients ask for: the endpoint tells its observers of each request (the recorder among
  // them), publishSessions tells the recorder of the ended connections. Once the server has
  // listed its tools, only those names get entries of their own (the catalog's knownName).
  const catalog = o.catalog ?? new ToolCatalog();
  const recorder = o.recorder ?? new OperationRecorder({ knownName: catalog.knownName });
  const requests = o.requests ?? new RequestObservers((err) => log.error({ err }, 'a request observer failed; request not recorded by it')).add(recorder);
  requests.add(catalog);
  // The calls journal only with `--calls on`: `off` means no observer and no file at all.
  const calls = s.calls === 'on'
    ? new CallsJournal({ stateDir: s.stateDir, serverId: s.serverId, lock, maxBytes: s.callsMaxBytes, files: s.callsFiles, logger: log.child({ component: 'calls-journal' }) })
    : undefined;
  if (calls) requests.add(calls);
  const writer = new SnapshotWriter({
    stateDir: s.stateDir,
    serverId: s.serverId,
    heartbeatMs: s.heartbeatMs,
    registry,
    lock,
    recorder,
    catalog,
    ...(backend.processes && { processes: backend.processes }),
    backend: () => backend.published(),
    logger: log.child({ component: 'snapshot-writer' }),
    activityDelayMs: o.activityDelayMs,
    ...(calls && { callsDropped: () => calls.dropped }),
  });
  const host = backend.endpoint({ ...o.endpoint, registry, requests, logger: log.child({ component: 'mcp-host' }), serverDir: serverDir(s.stateDir, s.serverId) });
  const journal = new JournalWriter({ stateDir: s.stateDir, serverId: s.serverId, lock, maxBytes: s.journalMaxBytes, files: s.journalFiles, logger: log.child({ component: 'journal' }) });
  // Requests to end sessions (see shared/control-request.ts), carried out by whichever endpoint serves.
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
  let callsErrors = 0;
  calls?.on('error', (err) => {
    callsErrors += 1;
    // Lines lost are counted in the snapshot (`callsDropped`); the log says the first, then every 100th.
    if (callsErrors === 1 || callsErrors % 100 === 0) log.error({ err: err.message, callsErrors, callsDropped: calls.dropped }, 'calls journal: lines lost');
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

  let resolveStopped!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | undefined;
  const shutdown = (why: string, exitCode = 0): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why }, 'shutting down');
      // Never rejects: a failed write is reported as an 'error' event and given up after a few tries.
      await writer.markStopping();
      await control.close();
      await host.close();
      await backend.close();
      // The requests that ended while the endpoint closed are in the queue: written under the lock.
      await calls?.close();
      await writer.flush();
      // The final `stopped` snapshot is the next one; the journal closes while we hold the lock.
      if (writer.last && lock.held) sessionJournal.stop(writer.seq + 1);
      await journal.close();
      await writer.close();
      await lock.close();
      log.info('stopped');
      resolveStopped(exitCode);
    })();
    return stopping;
  };
  lock.on('compromised', (err) => {
    // The writer and the journal have stopped writing already (they listen too). The journal must
    // not even queue the `disconnect … shutdown` lines of the endpoint closing below: they would
    // land after the next writer's `start` (see shared/replay.ts).
    sessionJournal.detach();
    log.error({ err: err.message }, 'snapshot lock lost (another writer took it over); stopping without writing');
    o.onLockLost?.();
    void shutdown('lock compromised', EXIT_FAILURE);
  });

  const start = async (): Promise<void> => {
    try {
      if (!o.lock) await lock.start();
      if (stopping) return;
      await writer.start();
    } catch (err) {
      await lock.close();
      // Nothing else was started: there is nothing to shut down.
      stopping ??= Promise.resolve();
      resolveStopped(EXIT_FAILURE);
      if (err instanceof WriterLockedError) throw new WriterStartError(err.message, EXIT_FAILURE, { cause: err });
      if (err instanceof UsageError) throw new WriterStartError(err.message, EXIT_USAGE, { cause: err });
      throw new WriterStartError(`cannot publish snapshots in ${s.stateDir}: ${(err as Error).message}`, EXIT_FAILURE, { cause: err });
    }
    // Stopped meanwhile (a signal, or the lock lost while starting): start nothing more.
    if (stopping) return;
    // The lock is ours: the journal is ours to append. Failing to open it never stops the server.
    await journal.start().catch((err: Error) => log.error({ err: err.message, file: journal.file }, 'journal unavailable; will retry on the next event'));
    sessionJournal.start(new Date(writer.last?.startedAt ?? o.startedAt ?? Date.now()), s.heartbeatMs, writer.abandoned);
    // Never fatal either: a calls journal that cannot be opened loses its lines (counted in `callsDropped`) and tries again with each batch.
    await calls?.start().catch((err: Error) => log.error({ err: err.message, file: calls.file }, 'calls journal unavailable; will retry with the next batch'));
    try {
      // What the backend runs beside its sessions; a change of what it publishes is written soon.
      await backend.start({ changed: () => writer.request('heartbeat') });
      const endpoint = await host.start();
      // Before `running`: whoever sees a session listed can ask to end it. Never fatal: without
      // it the server serves on, only ending sessions on request is off.
      await control.start().catch((err: Error) => controlLog.error({ err: err.message }, 'control requests are off (sessions cannot be ended on request)'));
      await writer.markRunning(endpoint);
      log.info({ url: endpoint?.url ?? null, snapshot: writer.file }, endpoint ? 'MCP server listening' : 'publishing');
    } catch (err) {
      // Stopped while starting (a signal, the API gone, the lock lost): the endpoint's start()
      // rejects for that alone (server/endpoint/endpoint-lifecycle.ts), and the shutdown goes on.
      if (stopping) return;
      const e = err as NodeJS.ErrnoException;
      const { mcpHost, mcpPort } = { mcpHost: o.endpoint.host, mcpPort: o.endpoint.port };
      const why = e.code === 'EADDRINUSE' ? `port ${mcpPort} on ${mcpHost} is already in use (--mcp-port)` : e.code === 'EADDRNOTAVAIL' ? `cannot bind ${mcpHost} (--mcp-host)` : e.message;
      await shutdown('could not start', EXIT_FAILURE);
      throw new WriterStartError(why, EXIT_FAILURE, { cause: err });
    }
  };

  return {
    writer,
    lock,
    requests,
    start,
    shutdown,
    get stopping() {
      return stopping !== undefined;
    },
    stopped,
  };
}
