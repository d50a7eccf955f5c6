/**
 * The connection map of one MCP child: what the snapshot publishes. Plain data plus events;
 * the endpoint (its session table, its modern clients) decides when sessions start, are used and end.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { CloseReason, Connection } from '../../shared/snapshot.js';

/** What is known of a session when it ends (journal `disconnect`, metrics). */
export interface SessionEnd {
  connection: Connection;
  reason: CloseReason;
  /** How long it was open, from a monotonic clock (never negative, whatever the wall clock did). */
  durationMs: number;
  /** Who asked, for a session ended on request (reason `terminated`): `api`, `cli:<user>`. */
  by?: string;
}

/** Options of a {@link SessionRegistry}. */
export interface SessionRegistryOptions {
  /** A monotonic clock in ms, for durations. Default `performance.now`. */
  clock?: () => number;
}

interface RegistryEvents {
  connect: [connection: Connection];
  disconnect: [end: SessionEnd];
  activity: [connection: Connection];
}

export class SessionRegistry extends EventEmitter<RegistryEvents> {
  readonly #sessions = new Map<string, Connection>();
  /** When each open session was added, by the monotonic clock (`connectedAt` is the wall clock's ISO string). */
  readonly #startedAt = new Map<string, number>();
  readonly #now: () => number;
  #created = 0;
  #lastUpdated = new Date();

  constructor(options: SessionRegistryOptions = {}) {
    super();
    this.#now = options.clock ?? (() => performance.now());
  }

  /** Sessions open now. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Sessions opened by this process. */
  get created(): number {
    return this.#created;
  }

  /** When the map last changed (a session came, went or was used). */
  get lastUpdated(): Date {
    return this.#lastUpdated;
  }

  get(sessionId: string): Connection | undefined {
    return this.#sessions.get(sessionId);
  }

  /** The open sessions, oldest first (Map keeps insertion order). */
  list(): Connection[] {
    return [...this.#sessions.values()];
  }

  /**
   * Records a new session; emits `connect`. Returns false, recording nothing, when a session of
   * that id is listed already: ids can come from the network (a proxied upstream's, a modern
   * client's hash), so a clash is refused here rather than thrown on a request's path.
   */
  add(connection: Connection): boolean {
    if (this.#sessions.has(connection.sessionId)) return false;
    // Every row says whether it has a stdio process (null unless `--command`).
    connection.process ??= null;
    this.#sessions.set(connection.sessionId, connection);
    this.#startedAt.set(connection.sessionId, this.#now());
    this.#created += 1;
    this.#lastUpdated = new Date(connection.connectedAt);
    this.emit('connect', connection);
    return true;
  }

  /**
   * Counts one request of a connection and moves its lastActivity (and its lastMethod, when
   * `method` is given: already bounded by the caller); emits `activity`.
   */
  touch(sessionId: string, method?: string, now: Date = new Date()): void {
    const c = this.#sessions.get(sessionId);
    if (!c) return;
    c.requestCount += 1;
    c.lastActivity = now.toISOString();
    if (method !== undefined) c.lastMethod = method;
    this.#lastUpdated = now;
    this.emit('activity', c);
  }

  /**
   * A field of a listed row changed without a request of its client (what a `wrap` learned from
   * its server's answer); emits `activity` so that the next write shows it, counting nothing.
   */
  changed(sessionId: string, now: Date = new Date()): void {
    const c = this.#sessions.get(sessionId);
    if (!c) return;
    this.#lastUpdated = now;
    this.emit('activity', c);
  }

  /**
   * Removes a session; emits `disconnect` once. Returns false when it was not open.
   * `durationMs`: how long it was connected, when the caller knows better than "since add()"
   * (a modern client leaves a window after its last request, but was connected until it).
   * `by`: who asked, for a session ended on request (reason `terminated`).
   */
  remove(sessionId: string, reason: CloseReason, now: Date = new Date(), durationMs?: number, by?: string): boolean {
    const c = this.#sessions.get(sessionId);
    if (!c) return false;
    const startedAt = this.#startedAt.get(sessionId)!;
    this.#sessions.delete(sessionId);
    this.#startedAt.delete(sessionId);
    this.#lastUpdated = now;
    const ms = Math.max(0, Math.round(durationMs ?? this.#now() - startedAt));
    this.emit('disconnect', { connection: c, reason, durationMs: ms, ...(by !== undefined && { by }) });
    return true;
  }
}
