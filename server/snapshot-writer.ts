/**
 * Publishes the connection map of this MCP child as `state/<serverId>/snapshot.json`: one line
 * of JSON replaced atomically (write-file-atomic) on every change and every heartbeat, by one
 * writer at a time (proper-lockfile on the snapshot path).
 *
 * Writes are coalesced: at most one is in flight and one is pending, and the pending one is
 * built from the registry when it starts, so a burst of changes costs a few writes and the last
 * state is always written. A failing write is reported as an `'error'` event and retried; it
 * never stops the MCP server.
 */
import { EventEmitter } from 'node:events';
import { chmod, mkdir, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import writeFileAtomic from 'write-file-atomic';
import type { Logger } from 'pino';
import { DIR_MODE, FILE_MODE, SNAPSHOT_TEMP_RE, lockPath, serverDir, snapshotPath } from '../shared/paths.js';
import { isPidAlive } from '../shared/pid.js';
import { readSnapshotFile } from '../shared/read-snapshot.js';
import {
  CLOSE_REASONS,
  SNAPSHOT_SCHEMA,
  type CloseReason,
  isStale,
  serializeSnapshot,
  type McpEndpoint,
  type Snapshot,
  type WriteReason,
  type WriterStatus,
} from '../shared/snapshot.js';
import type { SessionRegistry } from './session-registry.js';

/** Another live process holds the snapshot lock of this server id. */
export class WriterLockedError extends Error {
  readonly code = 'ELOCKED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WriterLockedError';
  }
}

export interface SnapshotWriterOptions {
  stateDir: string;
  serverId: string;
  /** Heartbeat: `writtenAt` is refreshed at least this often. */
  heartbeatMs: number;
  registry: SessionRegistry;
  logger: Logger;
  /**
   * Pid of the previous writer of this id, known to be dead (its supervisor saw it exit).
   * If the snapshot names it and it is gone, its lock is taken over at once instead of after
   * `lockStaleMs`.
   */
  reclaimPid?: number;
  /** proper-lockfile `stale`: a lock not refreshed for this long is taken over. Default 5000. */
  lockStaleMs?: number;
  /** How long to keep retrying a held lock at start. Default `lockStaleMs` + 4000. */
  lockWaitMs?: number;
  /** Writes caused only by activity (requestCount, lastActivity) wait this long to batch. Default 100. */
  activityDelayMs?: number;
  /** Delay before retrying a failed write. Default 250, doubling up to the heartbeat. */
  retryMs?: number;
}

interface WriterEvents {
  /** A write failed (it is retried). */
  error: [err: Error];
  /** The lock was lost: this writer stopped writing for good. */
  compromised: [err: Error];
  /** A snapshot was written. */
  written: [snapshot: Snapshot];
}

// Which reason a coalesced write reports: the most significant of the changes it carries.
const REASON_RANK: Record<WriteReason, number> = { heartbeat: 0, activity: 1, connect: 2, disconnect: 2, startup: 3, shutdown: 4 };

/** Attempts at each write while shutting down before giving it up. */
const SHUTDOWN_WRITE_ATTEMPTS = 3;

// Not unref()ed: while the lock is awaited at start nothing else keeps the process alive.
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class SnapshotWriter extends EventEmitter<WriterEvents> {
  readonly file: string;
  readonly #o: Required<Omit<SnapshotWriterOptions, 'reclaimPid'>> & { reclaimPid?: number };
  readonly #log: Logger;
  #status: WriterStatus = 'starting';
  #mcp: McpEndpoint | null = null;
  #startedAt = new Date();
  #seq = 0;
  #previousTotal = 0;
  readonly #closed: Record<CloseReason, number> = { delete: 0, close: 0, idle: 0, shutdown: 0 };
  #pending: WriteReason | null = null;
  #draining: Promise<void> | null = null;
  #activityTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #release: (() => Promise<void>) | undefined;
  #compromised = false;
  #started = false;
  #closePromise: Promise<void> | undefined;
  #last: Snapshot | undefined;
  readonly #attemptWaiters: (() => void)[] = [];

  constructor(options: SnapshotWriterOptions) {
    super();
    const lockStaleMs = options.lockStaleMs ?? 5000;
    this.#o = {
      lockStaleMs,
      lockWaitMs: options.lockWaitMs ?? lockStaleMs + 4000,
      activityDelayMs: options.activityDelayMs ?? 100,
      retryMs: options.retryMs ?? 250,
      ...options,
    };
    this.#log = options.logger;
    this.file = snapshotPath(options.stateDir, options.serverId);
    const { registry } = options;
    registry.on('connect', () => this.request('connect'));
    registry.on('disconnect', (end) => {
      this.#closed[end.reason] += 1;
      this.request('disconnect');
    });
    registry.on('activity', () => this.request('activity'));
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
   * Takes the lock (waiting out a stale one), removes temp files of a dead writer, carries
   * `totalConnections` over and writes the `starting` snapshot.
   * Throws {@link WriterLockedError} when a live writer holds the lock.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('SnapshotWriter already started');
    this.#started = true;
    const dir = serverDir(this.#o.stateDir, this.#o.serverId);
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    // It holds client IPs: tighten a directory someone made with a looser mode.
    await chmod(dir, DIR_MODE);
    await this.#acquireLock();
    if (this.#closePromise) {
      // Closed while waiting for the lock (SIGTERM at start): give it back, write nothing.
      await this.#releaseLock();
      return;
    }
    await this.#removeTempFiles(dir);
    await this.#loadPrevious();
    this.#startedAt = new Date();
    this.request('startup');
    await this.#attempted();
  }

  /** Marks the MCP endpoint bound and the server `running`; resolves once that is written. */
  async markRunning(mcp: McpEndpoint): Promise<void> {
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
    if (this.#compromised || !this.#release || this.#status === 'stopped') return;
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
   * Writes the final `stopped` snapshot with 0 connections and releases the lock. Call after
   * the MCP host has closed its sessions. Safe to call many times.
   */
  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    clearTimeout(this.#activityTimer);
    this.#activityTimer = undefined;
    if (this.#started && !this.#compromised && this.#release) {
      await this.flush();
      this.#status = 'stopped';
      this.#mcp = null;
      this.#pending = 'shutdown';
      this.#kick();
      await this.flush();
    }
    clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    await this.#releaseLock();
  }

  async #releaseLock(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    if (release && !this.#compromised) {
      await release().catch((err: Error) => this.#log.warn({ err: err.message }, 'could not release the snapshot lock'));
    }
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
    while (this.#pending !== null && !this.#compromised) {
      // Activity alone waits for its timer, which kicks a new drain.
      if (this.#pending === 'activity' && this.#activityTimer !== undefined) break;
      const reason = this.#pending;
      this.#pending = null;
      const snapshot = this.#build(reason);
      try {
        await writeFileAtomic(this.file, serializeSnapshot(snapshot), { mode: FILE_MODE, chown: false as never });
        retryMs = this.#o.retryMs;
        failures = 0;
        this.#last = snapshot;
        this.#armHeartbeat();
        this.#notifyAttempt();
        this.emit('written', snapshot);
      } catch (err) {
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
    };
  }

  async #acquireLock(): Promise<void> {
    const { lockStaleMs, lockWaitMs } = this.#o;
    await this.#reclaimFromDeadWriter();
    const deadline = Date.now() + lockWaitMs;
    for (;;) {
      try {
        this.#release = await lockfile.lock(this.file, {
          realpath: false,
          stale: lockStaleMs,
          onCompromised: (err) => this.#onCompromised(err),
        });
        // proper-lockfile makes the lock directory with the default mode; ours are 0700.
        await chmod(lockPath(this.#o.stateDir, this.#o.serverId), DIR_MODE).catch(() => undefined);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
        const holder = await this.#liveHolder();
        if (holder !== undefined || Date.now() >= deadline) {
          const who = holder !== undefined ? `pid ${holder}` : 'another process';
          throw new WriterLockedError(
            `server id "${this.#o.serverId}" is already being written by ${who} (lock ${lockPath(this.#o.stateDir, this.#o.serverId)})`,
            { cause: err },
          );
        }
        await sleep(250);
      }
    }
  }

  /** The pid of a live, fresh writer named by the current snapshot, if there is one. */
  async #liveHolder(): Promise<number | undefined> {
    const current = await readSnapshotFile(this.file).catch(() => undefined);
    if (!current || current.pid === process.pid || current.status === 'stopped') return undefined;
    return isPidAlive(current.pid) && !isStale(current) ? current.pid : undefined;
  }

  async #reclaimFromDeadWriter(): Promise<void> {
    const pid = this.#o.reclaimPid;
    if (pid === undefined || isPidAlive(pid)) return;
    const current = await readSnapshotFile(this.file).catch(() => undefined);
    if (current?.pid !== pid) return;
    const lock = lockPath(this.#o.stateDir, this.#o.serverId);
    try {
      await stat(lock);
      await rmdir(lock);
      this.#log.info({ deadPid: pid }, 'took over the snapshot lock of a dead writer');
    } catch (err) {
      // ENOENT: no lock left behind (the writer released it or it was never taken).
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async #removeTempFiles(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      if (!SNAPSHOT_TEMP_RE.test(name)) continue;
      await unlink(`${dir}/${name}`).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.#log.info({ file: name }, 'removed a temp file left by a killed writer');
    }
  }

  async #loadPrevious(): Promise<void> {
    try {
      const prev = await readSnapshotFile(this.file);
      this.#previousTotal = prev.totalConnections;
      for (const r of CLOSE_REASONS) this.#closed[r] += prev.sessionsClosed?.[r] ?? 0;
      this.#seq = prev.pid === process.pid ? prev.seq : 0;
      if (prev.status !== 'stopped') {
        this.#log.warn({ previousPid: prev.pid, status: prev.status, writtenAt: prev.writtenAt }, 'the previous writer did not stop cleanly');
      }
    } catch (err) {
      // ENOENT: the first start of this server id.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.#log.warn({ err: (err as Error).message }, 'previous snapshot unreadable; totalConnections starts at 0');
    }
  }

  #onCompromised(err: Error): void {
    this.#compromised = true;
    this.#pending = null;
    clearTimeout(this.#heartbeatTimer);
    clearTimeout(this.#activityTimer);
    this.emit('compromised', err);
  }
}
