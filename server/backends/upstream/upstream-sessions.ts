/**
 * The legacy sessions seen through `--upstream`: the upstream assigns their ids, this keeps
 * them in the registry as the legacy leg does for a hosted server. A session starts when the
 * upstream answers an `initialize` with an `Mcp-Session-Id`; it ends on a DELETE the upstream
 * accepted (`delete`), a 404 of the upstream for it (`upstream`), its GET stream gone and
 * nothing heard for the gone-grace (`close`), idleness (`idle`, ended upstream with a DELETE),
 * or shutdown. `--max-sessions` caps them (slots, as for a hosted server), adopted ones too.
 * Only an id the upstream was seen to issue ({@link IssuedSessions}) is ever adopted.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CloseReason, Connection } from '../../../shared/snapshot.js';
import { GONE_GRACE_MS } from '../hosted/legacy-sessions.js';
import type { SessionRegistry } from '../../sessions/session-registry.js';
import { SessionSlots, type ReleaseSlot } from '../../sessions/session-slots.js';
import { IssuedSessions } from './issued-sessions.js';
import type { Upstream } from './upstream.js';

/** Options of {@link UpstreamSessions}. */
export interface UpstreamSessionsOptions {
  registry: SessionRegistry;
  upstream: Upstream;
  logger: Logger;
  maxSessions: number;
  sessionIdleMs: number;
  clock?: () => number;
  sweepIntervalMs?: number;
  goneGraceMs?: number;
  /** The server's directory in the state dir, where issued ids are remembered; default: in memory only. */
  dir?: string;
}

/**
 * Sessions ended on request remembered, so that their next requests get 404 here: forwarded,
 * they could reach the upstream before our DELETE does and be adopted again. Oldest forgotten first.
 */
const TERMINATED_KEPT = 10_000;

interface Proxied {
  id: string;
  protocolVersion: string | null;
  inFlight: number;
  lastSeen: number;
  goneTimer: NodeJS.Timeout | undefined;
}

/** The proxied sessions of one child (`start()`/`close()`). */
export class UpstreamSessions {
  readonly #o: UpstreamSessionsOptions;
  readonly #now: () => number;
  readonly #sessions = new Map<string, Proxied>();
  readonly #terminated = new Set<string>();
  readonly slots: SessionSlots;
  readonly #issued: IssuedSessions;
  #timer: NodeJS.Timeout | undefined;
  /** The read of the issued ids, once start() was called. */
  #loading: Promise<void> | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;

  constructor(o: UpstreamSessionsOptions) {
    this.#o = o;
    this.#now = o.clock ?? (() => performance.now());
    this.slots = new SessionSlots(o.maxSessions, () => this.#sessions.size);
    this.#issued = new IssuedSessions({ dir: o.dir, max: o.maxSessions, idleMs: o.sessionIdleMs, isOpen: (id) => this.#sessions.has(id), logger: o.logger, clock: o.clock });
  }

  get closing(): boolean {
    return this.#closing;
  }

  has(id: string): boolean {
    return this.#sessions.has(id);
  }

  /** Whether `id` was ended on request: its requests get 404 without being forwarded. */
  terminated(id: string): boolean {
    return this.#terminated.has(id);
  }

  /**
   * Ends session `id` on request: reason `terminated`, `by` who asked, and a
   * DELETE to the upstream. Returns false when no such session is open.
   */
  terminate(id: string, by: string): boolean {
    if (!this.#sessions.has(id)) return false;
    this.#terminated.add(id);
    if (this.#terminated.size > TERMINATED_KEPT) this.#terminated.delete(this.#terminated.values().next().value!);
    this.end(id, 'terminated', true, by);
    return true;
  }

  /**
   * For a request with an id not listed here: a slot to adopt it with when the upstream issued
   * it (free it if the answer does not adopt); `full` when every slot is taken; undefined when
   * the id is never to be listed (forwarded only).
   */
  adoptionSlot(id: string): ReleaseSlot | 'full' | undefined {
    if (this.#closing || this.#sessions.has(id) || !this.#issued.adoptable(id)) return undefined;
    return this.slots.reserve() ?? 'full';
  }

  /** Reads the ids issued before this start, then sweeps idle sessions (none when close() came meanwhile). Throws when called twice. */
  async start(): Promise<void> {
    if (this.#loading) throw new Error('UpstreamSessions already started');
    this.#loading = this.#issued.load();
    await this.#loading;
    if (this.#closing || this.#o.sessionIdleMs <= 0) return;
    const every = this.#o.sweepIntervalMs ?? Math.min(Math.max(Math.floor(this.#o.sessionIdleMs / 4), 50), 30_000);
    this.#timer = setInterval(() => this.#sweep(), every).unref();
  }

  /**
   * Ends every session here (reason `shutdown`); the upstream keeps them, and their ids are kept
   * for the next child to adopt. Resolves once a start() under way has read the ids and what is
   * pending is written; the same promise every time.
   */
  close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#timer);
    for (const id of [...this.#sessions.keys()]) this.end(id, 'shutdown');
    this.#closed ??= (async () => {
      await this.#loading?.catch(() => undefined);
      await this.#issued.close();
    })();
    return this.#closed;
  }

  /**
   * A session the upstream opened (or, `adopted`, one it knows and we do not, after a restart
   * of this child): listed from now. `slot` is the reservation of its `initialize` or adoption, if any.
   */
  open(connection: Connection, slot?: ReleaseSlot): void {
    slot?.();
    if (this.#sessions.has(connection.sessionId)) return;
    if (!this.#o.registry.add(connection)) {
      this.#o.logger.warn({ sessionId: connection.sessionId }, 'upstream session id already listed (a modern client\'s?); forwarded but not listed');
      return;
    }
    this.#sessions.set(connection.sessionId, { id: connection.sessionId, protocolVersion: connection.protocolVersion, inFlight: 0, lastSeen: this.#now(), goneTimer: undefined });
    this.#issued.add(connection.sessionId);
    // An answer that arrived after close() ended the others: its session ends as they did, or
    // its `connect` line would have no `disconnect` (the final snapshot lists no session).
    if (this.#closing) this.end(connection.sessionId, 'shutdown');
  }

  /** A request of session `id` starts; the returned function marks its end (`wasStream`: the GET stream). */
  request(id: string, method: string | undefined): () => void {
    const s = this.#sessions.get(id);
    if (!s) return () => undefined;
    s.inFlight += 1;
    s.lastSeen = this.#now();
    clearTimeout(s.goneTimer);
    s.goneTimer = undefined;
    this.#o.registry.touch(id, method);
    return () => this.#settle(s);
  }

  /** Marks the end of the GET stream of `id`: with nothing else open, it is gone after the grace. */
  streamEnded(id: string): void {
    const s = this.#sessions.get(id);
    if (!s || s.inFlight > 0 || this.#closing) return;
    clearTimeout(s.goneTimer);
    s.goneTimer = setTimeout(() => {
      if (s.inFlight === 0 && this.#sessions.get(id) === s) this.end(id, 'close', true);
    }, this.#o.goneGraceMs ?? GONE_GRACE_MS).unref();
  }

  #settle(s: Proxied): void {
    s.inFlight -= 1;
    s.lastSeen = this.#now();
  }

  #sweep(): void {
    const cutoff = this.#now() - this.#o.sessionIdleMs;
    for (const s of [...this.#sessions.values()]) if (s.inFlight === 0 && s.lastSeen <= cutoff) this.end(s.id, 'idle', true);
  }

  /**
   * Ends a session once; `tellUpstream`: with a DELETE to the upstream (we end it, not the
   * client); `by`: who asked, for reason `terminated`.
   */
  end(id: string, reason: CloseReason, tellUpstream = false, by?: string): void {
    // Gone upstream (or ended there by us): never adopted again. `shutdown` and `close` leave
    // the upstream's session as it is, for the next child or the client's return.
    if (reason !== 'shutdown' && reason !== 'close') this.#issued.forget(id);
    const s = this.#sessions.get(id);
    if (!s) return;
    clearTimeout(s.goneTimer);
    this.#sessions.delete(id);
    this.#o.registry.remove(id, reason, new Date(), undefined, by);
    this.#o.logger.debug({ sessionId: id, reason }, 'session ended');
    if (tellUpstream) void this.#o.upstream.endSession(id, s.protocolVersion);
  }
}
