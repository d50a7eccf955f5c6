/**
 * The open legacy sessions of one child, for hosting and proxying alike: their slots against
 * `--max-sessions`, their requests in flight, and every way a session ends but the one its
 * owner adds (a hosted session's transport closing, the upstream's "gone"):
 * - idle: no request for `sessionIdleMs` and none in flight (a sweep looks every so often);
 * - close: its GET stream went away and nothing was heard for the gone-grace. A client that
 *   leaves without DELETE (the SDK client's close() sends none) shows it only so; one whose
 *   stream merely broke reconnects within a few seconds (the SDK retries after 1 s, then 1.5 s);
 * - terminated (a control request), delete, shutdown, and its owner's reasons.
 * A session ends once: out of the table first (so a late request finds nothing), then out of
 * the registry, then its owner's `onEnd` closes what it holds (a server, a process, the
 * upstream's session).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CloseReason, Connection } from '../../shared/snapshot.js';
import type { SessionRegistry } from './session-registry.js';
import { SessionSlots, type ReleaseSlot } from './session-slots.js';

/** How long after its GET stream closed a silent session ends (reason `close`), by default. */
export const GONE_GRACE_MS = 5000;

/** How a session ended, for its owner's `onEnd`. */
export interface SessionEnd {
  reason: CloseReason;
  /** Who asked, for reason `terminated`. */
  by?: string | undefined;
  /** The other side ended it already (the client's DELETE was taken, the transport closed, the upstream said gone). */
  byPeer: boolean;
}

/** One open session and what its owner keeps with it. */
export interface TableSession<T> {
  readonly id: string;
  readonly data: T;
  /** HTTP requests of this session not answered yet (an open GET stream counts). */
  inFlight: number;
  /** Last time a request of this session started or ended (ms of the monotonic clock). */
  lastSeen: number;
  /** Armed when its GET stream went away and nothing else is open. */
  goneTimer: NodeJS.Timeout | undefined;
}

/** Options of a {@link SessionTable}. */
export interface SessionTableOptions<T> {
  registry: SessionRegistry;
  logger: Logger;
  /** Sessions held at once (`--max-sessions`). */
  maxSessions: number;
  /** End a session with no request for this long and none in flight; 0 = never. */
  sessionIdleMs: number;
  /** How often idle sessions are looked for. Default a quarter of `sessionIdleMs`, within 50 ms-30 s. */
  sweepIntervalMs?: number | undefined;
  /** Default {@link GONE_GRACE_MS}. */
  goneGraceMs?: number | undefined;
  /** A monotonic clock in ms. Default `performance.now`. */
  clock?: (() => number) | undefined;
  /** Slots held beyond the open sessions (ended sessions whose process has not exited yet). */
  held?: () => number;
  /** Closes what an ended session held; close() waits for it. */
  onEnd(session: TableSession<T>, end: SessionEnd): Promise<void> | void;
}

export class SessionTable<T> {
  readonly #o: SessionTableOptions<T>;
  readonly #now: () => number;
  readonly #sessions = new Map<string, TableSession<T>>();
  /** Open sessions and `initialize` requests under way, against maxSessions. */
  readonly slots: SessionSlots;
  #sweep: NodeJS.Timeout | undefined;
  #started = false;
  #closing = false;
  #closed: Promise<void> | undefined;

  constructor(o: SessionTableOptions<T>) {
    this.#o = o;
    this.#now = o.clock ?? (() => performance.now());
    this.slots = new SessionSlots(o.maxSessions, () => this.#sessions.size + (o.held?.() ?? 0));
  }

  /** Whether close() has been called: no session is opened from now on. */
  get closing(): boolean {
    return this.#closing;
  }

  get size(): number {
    return this.#sessions.size;
  }

  has(id: string): boolean {
    return this.#sessions.has(id);
  }

  get(id: string): TableSession<T> | undefined {
    return this.#sessions.get(id);
  }

  /** Starts looking for idle sessions (never after close()). Throws when called twice. */
  start(): void {
    if (this.#started) throw new Error('SessionTable already started');
    this.#started = true;
    if (this.#closing || this.#o.sessionIdleMs <= 0) return;
    const every = this.#o.sweepIntervalMs ?? Math.min(Math.max(Math.floor(this.#o.sessionIdleMs / 4), 50), 30_000);
    this.#sweep = setInterval(() => this.#sweepIdle(), every).unref();
  }

  /** Ends every session (reason `shutdown`); resolves when their owners have closed them. The same promise every time. */
  close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweep);
    this.#closed ??= Promise.all([...this.#sessions.keys()].map((id) => this.end(id, { reason: 'shutdown', byPeer: false }))).then(() => undefined);
    return this.#closed;
  }

  /**
   * Lists `row` and keeps `data` with it, with one request in flight when `inFlight` (the
   * `initialize` being answered). False when its id is listed already (by another kind of
   * connection): then it is not kept.
   */
  open(row: Connection, data: T, inFlight = 0): TableSession<T> | undefined {
    if (this.#sessions.has(row.sessionId) || !this.#o.registry.add(row)) return undefined;
    const s: TableSession<T> = { id: row.sessionId, data, inFlight, lastSeen: this.#now(), goneTimer: undefined };
    this.#sessions.set(s.id, s);
    return s;
  }

  /**
   * A request of `s` starts (counted, with its method, in the registry); the returned function
   * marks its end, once. `stream`: the GET stream, whose end with nothing else open starts the
   * gone-grace.
   */
  request(s: TableSession<T>, method: string | undefined, stream: boolean): () => void {
    s.inFlight += 1;
    s.lastSeen = this.#now();
    clearTimeout(s.goneTimer);
    s.goneTimer = undefined;
    this.#o.registry.touch(s.id, method);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.settle(s, stream);
    };
  }

  /** A request of `s` counted at open() has ended (`stream`: see request()). */
  settle(s: TableSession<T>, stream = false): void {
    s.inFlight -= 1;
    s.lastSeen = this.#now();
    if (!stream || s.inFlight > 0 || this.#closing || this.#sessions.get(s.id) !== s) return;
    clearTimeout(s.goneTimer);
    s.goneTimer = setTimeout(() => {
      if (s.inFlight === 0) void this.end(s.id, { reason: 'close', byPeer: false });
    }, this.#o.goneGraceMs ?? GONE_GRACE_MS).unref();
  }

  /** Ends session `id` once (see the header); resolves when its owner has closed it. Nothing when it is not open. */
  async end(id: string, end: SessionEnd): Promise<void> {
    const s = this.#sessions.get(id);
    if (!s) return;
    clearTimeout(s.goneTimer);
    this.#sessions.delete(id);
    this.#o.registry.remove(id, end.reason, new Date(), undefined, end.by);
    // debug: per-session lines at info would flood a busy child's log.
    this.#o.logger.debug({ sessionId: id, reason: end.reason }, 'session ended');
    await this.#o.onEnd(s, end);
  }

  #sweepIdle(): void {
    const cutoff = this.#now() - this.#o.sessionIdleMs;
    for (const s of [...this.#sessions.values()]) {
      if (s.inFlight === 0 && s.lastSeen <= cutoff) void this.end(s.id, { reason: 'idle', byPeer: false });
    }
  }
}

export type { ReleaseSlot };
