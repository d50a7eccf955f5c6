/**
 * The legacy sessions seen through `--upstream`: the upstream assigns their ids, this keeps
 * them in the registry as the legacy leg does for a hosted server. A session starts when the
 * upstream answers an `initialize` with an `Mcp-Session-Id`; it ends on a DELETE the upstream
 * accepted (`delete`), a 404 of the upstream for it (`upstream`), its GET stream gone and
 * nothing heard for the gone-grace (`close`), idleness (`idle`, ended upstream with a DELETE),
 * or shutdown. `--max-sessions` caps them (slots, as for a hosted server).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CloseReason, Connection } from '../../shared/snapshot.js';
import { GONE_GRACE_MS } from '../legacy-sessions.js';
import type { SessionRegistry } from '../session-registry.js';
import { SessionSlots, type ReleaseSlot } from '../session-slots.js';
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
  #timer: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(o: UpstreamSessionsOptions) {
    this.#o = o;
    this.#now = o.clock ?? (() => performance.now());
    this.slots = new SessionSlots(o.maxSessions, () => this.#sessions.size);
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
   * Ends session `id` on request (contract §9): reason `terminated`, `by` who asked, and a
   * DELETE to the upstream. Returns false when no such session is open.
   */
  terminate(id: string, by: string): boolean {
    if (!this.#sessions.has(id)) return false;
    this.#terminated.add(id);
    if (this.#terminated.size > TERMINATED_KEPT) this.#terminated.delete(this.#terminated.values().next().value!);
    this.end(id, 'terminated', true, by);
    return true;
  }

  start(): void {
    if (this.#o.sessionIdleMs > 0) {
      const every = this.#o.sweepIntervalMs ?? Math.min(Math.max(Math.floor(this.#o.sessionIdleMs / 4), 50), 30_000);
      this.#timer = setInterval(() => this.#sweep(), every).unref();
    }
  }

  /** Ends every session here (reason `shutdown`); the upstream keeps them, for the next child to adopt. */
  close(): void {
    this.#closing = true;
    clearInterval(this.#timer);
    for (const id of [...this.#sessions.keys()]) this.end(id, 'shutdown');
  }

  /**
   * A session the upstream opened (or, `adopted`, one it knows and we do not, after a restart
   * of this child): listed from now. `slot` is the reservation of its `initialize`, if any.
   */
  open(connection: Connection, slot?: ReleaseSlot): void {
    slot?.();
    if (this.#sessions.has(connection.sessionId)) return;
    if (!this.#o.registry.add(connection)) {
      this.#o.logger.warn({ sessionId: connection.sessionId }, 'upstream session id already listed (a modern client\'s?); forwarded but not listed');
      return;
    }
    this.#sessions.set(connection.sessionId, { id: connection.sessionId, protocolVersion: connection.protocolVersion, inFlight: 0, lastSeen: this.#now(), goneTimer: undefined });
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
    const s = this.#sessions.get(id);
    if (!s) return;
    clearTimeout(s.goneTimer);
    this.#sessions.delete(id);
    this.#o.registry.remove(id, reason, new Date(), undefined, by);
    this.#o.logger.debug({ sessionId: id, reason }, 'session ended');
    if (tellUpstream) void this.#o.upstream.endSession(id, s.protocolVersion);
  }
}
