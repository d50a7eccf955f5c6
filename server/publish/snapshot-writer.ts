/**
 * Publishes the connection map of this MCP child as `state/<serverId>/snapshot.json`: one line
 * of JSON replaced atomically on every change and every heartbeat, only while the
 * {@link WriterLock} of the server id is ours (checked before each rename).
 *
 * Writes are coalesced: at most one is in flight and one is pending, and the pending one is
 * built from the registry when it starts, so a burst of changes costs a few writes and the last
 * state is always written. A failing write is reported as an `'error'` event and retried; it
 * never stops the MCP server. Once the lock is lost nothing is written any more.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { FILE_MODE, serverDir, snapshotPath } from '../../shared/paths.js';
import {
  SNAPSHOT_SCHEMA,
  noneClosed,
  type CloseReason,
  serializeSnapshot,
  type PublishedBackend,
  type McpEndpoint,
  type Snapshot,
  type WriteReason,
  type WriterStatus,
} from '../../shared/snapshot.js';
import type { ProcessList } from '../backends/backend.js';
import { OPERATION_BOUNDS } from '../../shared/operations.js';
import { OperationRecorder } from '../operations/operation-recorder.js';
import { ToolCatalog } from '../operations/tool-catalog.js';
import { loadPreviousState, type PreviousState } from './previous-state.js';
import type { SessionRegistry } from '../sessions/session-registry.js';
import { prepareTempDir, removeSnapshotTempFiles } from './temp-files.js';
import { writeFileNoFollow } from '../../shared/io/write-file-no-follow.js';
import type { WriterLock } from './writer-lock.js';

export interface SnapshotWriterOptions {
  stateDir: string;
  serverId: string;
  /** Heartbeat: `writtenAt` is refreshed at least this often. */
  heartbeatMs: number;
  registry: SessionRegistry;
  /** The lock of this server id; {@link SnapshotWriter.start} needs it held. */
  lock: WriterLock;
  logger: Logger;
  /**
   * Writes caused only by activity (requestCount, lastActivity, operations, catalog) wait this long to
   * batch. Default 250: at 100 the writes and the API's reads of them cost a busy server ~5% of
   * its throughput (bench/PROFILE.md); a person reading a dashboard does not see the difference.
   */
  activityDelayMs?: number;
  /** Delay before retrying a failed write. Default 250, doubling up to the heartbeat. */
  retryMs?: number;
  /** What clients asked for (`operations`, `sessionDurations`); carried over at start. Default: a fresh one. */
  recorder?: OperationRecorder;
  /**
   * The server's tools (`catalog`); carried over at start, and a listing that completes is written
   * like activity. Default: a fresh one (`catalog: null` until a listing completes).
   */
  catalog?: ToolCatalog;
  /**
   * The backend published as `backend`, or a function giving it at each write (the proxy's
   * upstream state changes). Default `{kind: 'builtin', target: null}`.
   */
  backend?: PublishedBackend | (() => PublishedBackend);
  /**
   * The live processes of the backend (`--command`), published as `processes` and written as
   * soon as they change; absent for backends without processes (no `processes` field).
   */
  processes?: ProcessList;
  /** Lines of the calls journal this writer could not write (CallsJournal#dropped), published as `callsDropped`. Default: none (0). */
  callsDropped?: () => number;
}

interface WriterEvents {
  /** A write failed (it is retried). */
  error: [err: Error];
  /** A snapshot was written. */
  written: [snapshot: Snapshot];
}

// Which reason a coalesced write reports: the most significant of the changes it carries.
const REASON_RANK: Record<WriteReason, number> = { heartbeat: 0, activity: 1, connect: 2, disconnect: 2, startup: 3, shutdown: 4 };

/** Attempts at each write while shutting down before giving it up. */
const SHUTDOWN_WRITE_ATTEMPTS = 3;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The coalescing writer of `snapshot.json`; see the file comment. Needs its {@link WriterLock} held. */
export class SnapshotWriter extends EventEmitter<WriterEvents> {
  readonly file: string;
  readonly #o: Required<Omit<SnapshotWriterOptions, 'processes'>> & Pick<SnapshotWriterOptions, 'processes'>;
  readonly #log: Logger;
  #status: WriterStatus = 'starting';
  #mcp: McpEndpoint | null = null;
  #startedAt = new Date();
  #seq = 0;
  #previousTotal = 0;
  /** What a previous writer that died left open (see {@link loadPreviousState}); set by start(). */
  abandoned: PreviousState['abandoned'];
  readonly #closed: Record<CloseReason, number> = noneClosed();
  #pending: WriteReason | null = null;
  #draining: Promise<void> | null = null;
  #activityTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  /** The lock was lost: nothing is written any more. */
  #lost = false;
  #started = false;
  /** start() loading the previous state, which close() waits for. */
  #loading: Promise<void> | undefined;
  /**
   * The previous state is loaded: writes may go out. Not before, since a snapshot built then
   * would carry none of the previous writer's counters (totals, seq) and the next start would
   * read them back as zero.
   */
  #ready = false;
  #closePromise: Promise<void> | undefined;
  #last: Snapshot | undefined;
  /** `<server>/.tmp/`, made at start; undefined again after a write found it gone. */
  #tempDir: string | undefined;
  readonly #attemptWaiters: (() => void)[] = [];

  constructor(options: SnapshotWriterOptions) {
    super();
    this.#o = {
      ...options,
      activityDelayMs: options.activityDelayMs ?? 250,
      retryMs: options.retryMs ?? 250,
      recorder: options.recorder ?? new OperationRecorder(),
      catalog: options.catalog ?? new ToolCatalog(),
      backend: options.backend ?? { kind: 'builtin', target: null },
      callsDropped: options.callsDropped ?? (() => 0),
    };
    this.#log = options.logger;
    this.file = snapshotPath(options.stateDir, options.serverId);
    // The registry's events reach the writer through connected()/disconnected()/activity(),
    // called by publishSessions (publish-sessions.ts) in the order the journal needs.
    // A process spawned or exited: in the file at once, so a reaper sees what is live. Only a
    // write is asked for, so where this listener stands among others does not matter.
    options.processes?.on('change', () => this.request('heartbeat'));
    // A new catalog rides with the activity writes (the tools/list that brought it is activity too).
    this.#o.catalog.on('change', () => this.request('activity'));
    // Its own lock, subscribed here and not by whoever wires the writer: no owner of a file the
    // lock guards may go on without it. The order among the lock's listeners does not matter:
    // the lock is marked lost before it emits, and request() and each rename check it first.
    options.lock.on('compromised', () => this.#onLockLost());
  }

  /** A session began: written at once (coalesced). */
  connected(): void {
    this.request('connect');
  }

  /** A session ended: counted in `sessionsClosed` by reason and written at once (coalesced). */
  disconnected(end: { reason: CloseReason }): void {
    this.#closed[end.reason] += 1;
    this.request('disconnect');
  }

  /** A session was used: written within `activityDelayMs`, batched with other activity. */
  activity(): void {
    this.request('activity');
  }

  /** The last snapshot written, if any. */
  get last(): Snapshot | undefined {
    return this.#last;
  }

  /**
   * The seq of the first snapshot that shows the changes made so far: the one built last, or
   * the next one when a write is pending (for the journal's `seq`).
   */
  get seq(): number {
    return this.#pending !== null ? this.#seq + 1 : this.#seq;
  }

  /** Sessions since the first start of this server id (carried over from the previous snapshot). */
  get totalConnections(): number {
    return this.#previousTotal + this.#o.registry.created;
  }

  /**
   * Removes temp files of a dead writer, carries the counters over (see
   * {@link loadPreviousState}) and writes the `starting` snapshot. The lock must be held.
   * Closed before or while it loads, it writes nothing: the previous snapshot stays as it was.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('SnapshotWriter already started');
    this.#started = true;
    if (this.#closePromise) return;
    if (!this.#o.lock.held) throw new Error('SnapshotWriter needs its WriterLock held');
    this.#loading = this.#load();
    await this.#loading;
    if (this.#closePromise) return;
    this.#ready = true;
    this.#startedAt = new Date();
    this.request('startup');
    await this.#attempted();
  }

  async #load(): Promise<void> {
    const dir = serverDir(this.#o.stateDir, this.#o.serverId);
    await removeSnapshotTempFiles(dir, this.#log);
    this.#tempDir = await prepareTempDir(dir, this.#log);
    await removeSnapshotTempFiles(this.#tempDir, this.#log);
    const prev = await loadPreviousState(this.file, this.#log);
    this.#o.recorder.carryOver(prev);
    this.#o.catalog.carryOver(prev.catalog);
    this.#previousTotal = prev.totalConnections;
    this.abandoned = prev.abandoned;
    for (const [r, n] of Object.entries(prev.sessionsClosed)) this.#closed[r as CloseReason] += n;
    this.#seq = prev.seq;
  }

  /**
   * Marks the MCP endpoint bound (null: a stdio front, reached by no address) and the server `running`; resolves once that is written.
   * Ignored once shutdown began (markStopping or close): a start that finishes late must not
   * publish `running` for a server on its way out.
   */
  async markRunning(mcp: McpEndpoint | null): Promise<void> {
    if (this.#closePromise || this.#status === 'stopping' || this.#status === 'stopped') return;
    this.#mcp = mcp;
    this.#status = 'running';
    this.request('startup');
    await this.#attempted();
  }

  /** Marks the server `stopping` (shutdown began); resolves once that is written. */
  async markStopping(): Promise<void> {
    if (this.#status === 'stopped') return;
    this.#status = 'stopping';
    this.request('shutdown');
    await this.#attempted();
  }

  /**
   * Asks for a write. Changes of the map are written at once (coalesced with the write in
   * flight); pure activity waits `activityDelayMs` so that busy sessions batch.
   */
  request(reason: WriteReason): void {
    // Nothing is written without the lock, nor after the final write.
    if (this.#lost || !this.#ready || !this.#o.lock.held || this.#status === 'stopped') return;
    if (this.#pending === null || REASON_RANK[reason] >= REASON_RANK[this.#pending]) this.#pending = reason;
    if (this.#pending === 'activity') {
      // Only activity is waiting: it goes out when the timer fires, never sooner, even right
      // after a write in flight (a busy session would otherwise cause back-to-back writes).
      this.#activityTimer ??= setTimeout(() => {
        this.#activityTimer = undefined;
        this.#kick();
      }, this.#o.activityDelayMs).unref();
      return;
    }
    this.#kick();
  }

  /**
   * Resolves once the write requested last has been tried, whether it worked or not: start and
   * shutdown go on while the disk refuses writes (they are retried in the background).
   */
  #attempted(): Promise<void> {
    if (this.#pending === null && this.#draining === null) return Promise.resolve();
    return new Promise((resolve) => this.#attemptWaiters.push(resolve));
  }

  #notifyAttempt(): void {
    if (this.#pending !== null) return; // the write they wait for is still to come
    for (const resolve of this.#attemptWaiters.splice(0)) resolve();
  }

  /** Resolves when every requested write has been done (or given up on after close). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /**
   * Writes the final `stopped` snapshot with 0 connections (not when the lock is lost). Call
   * after the MCP host has closed its sessions, and release the lock after it. Safe to call many
   * times.
   */
  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    clearTimeout(this.#activityTimer);
    this.#activityTimer = undefined;
    // A start still loading goes no further (it sees #closePromise) and nothing is written.
    await this.#loading?.catch(() => undefined);
    if (this.#ready && !this.#lost && this.#o.lock.held) {
      await this.flush();
      this.#status = 'stopped';
      this.#mcp = null;
      this.#pending = 'shutdown';
      this.#kick();
      await this.flush();
    }
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
  }

  #kick(): void {
    if (this.#draining) return;
    clearTimeout(this.#activityTimer);
    this.#activityTimer = undefined;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      for (const resolve of this.#attemptWaiters.splice(0)) resolve();
    });
  }

  async #drain(): Promise<void> {
    let retryMs = this.#o.retryMs;
    let failures = 0;
    while (this.#pending !== null && !this.#lost) {
      // Activity alone waits for its timer, which kicks a new drain.
      if (this.#pending === 'activity' && this.#activityTimer !== undefined) break;
      const reason = this.#pending;
      this.#pending = null;
      const snapshot = this.#build(reason);
      try {
        this.#tempDir ??= await prepareTempDir(serverDir(this.#o.stateDir, this.#o.serverId), this.#log);
        await writeFileNoFollow(this.file, serializeSnapshot(snapshot), { mode: FILE_MODE, tempDir: this.#tempDir, beforeRename: () => this.#o.lock.verify() }).catch((err: NodeJS.ErrnoException) => {
          // The temp directory was removed (or replaced by a file): make it again on the retry.
          if (err.code === 'ENOENT' || err.code === 'ENOTDIR') this.#tempDir = undefined;
          throw err;
        });
        retryMs = this.#o.retryMs;
        failures = 0;
        this.#last = snapshot;
        this.#armHeartbeat();
        this.#notifyAttempt();
        this.emit('written', snapshot);
      } catch (err) {
        if (this.#lost) break; // verify() found the lock gone: the write was not made, and none will be
        const waiting = this.#pending === null;
        this.#pending ??= reason;
        failures += 1;
        this.emit('error', new Error(`Could not write ${this.file}: ${(err as Error).message}`, { cause: err }));
        if (waiting) for (const resolve of this.#attemptWaiters.splice(0)) resolve();
        // While shutting down, writes that keep failing (a full disk) must not hold the exit.
        if (this.#status !== 'running' && this.#status !== 'starting' && failures >= SHUTDOWN_WRITE_ATTEMPTS) {
          this.#pending = null;
          return;
        }
        await sleep(retryMs);
        retryMs = Math.min(retryMs * 2, this.#o.heartbeatMs);
      }
    }
  }

  #armHeartbeat(): void {
    clearTimeout(this.#heartbeatTimer);
    if (this.#status === 'stopped') return;
    this.#heartbeatTimer = setTimeout(() => this.request('heartbeat'), this.#o.heartbeatMs).unref();
  }

  #build(reason: WriteReason): Snapshot {
    const { registry } = this.#o;
    const connections = this.#status === 'stopped' ? [] : registry.list();
    this.#seq += 1;
    return {
      schema: SNAPSHOT_SCHEMA,
      serverId: this.#o.serverId,
      pid: process.pid,
      seq: this.#seq,
      status: this.#status,
      reason,
      startedAt: this.#startedAt.toISOString(),
      writtenAt: new Date().toISOString(),
      heartbeatMs: this.#o.heartbeatMs,
      mcp: this.#mcp,
      activeConnections: connections.length,
      totalConnections: this.totalConnections,
      lastUpdated: registry.lastUpdated.toISOString(),
      connections,
      sessionsClosed: { ...this.#closed },
      backend: typeof this.#o.backend === 'function' ? this.#o.backend() : this.#o.backend,
      operations: this.#o.recorder.operations(),
      operationBounds: [...OPERATION_BOUNDS],
      sessionDurations: this.#o.recorder.sessionDurations(),
      callsDropped: this.#o.callsDropped(),
      catalog: this.#o.catalog.current(),
      // Listed until each has exited, also in the `stopped` snapshot should one outlive the shutdown.
      ...(this.#o.processes && { processes: this.#o.processes.list() }),
    };
  }

  #onLockLost(): void {
    this.#lost = true;
    this.#pending = null;
    clearTimeout(this.#heartbeatTimer);
    clearTimeout(this.#activityTimer);
    this.#activityTimer = undefined;
    for (const resolve of this.#attemptWaiters.splice(0)) resolve();
  }
}
