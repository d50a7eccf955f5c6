/**
 * The legacy sessions seen through `--upstream`: the upstream assigns their ids, this keeps
 * them in the {@link SessionTable} as a hosted server's are kept. A session starts when the
 * upstream answers an `initialize` with an `Mcp-Session-Id`; it ends on a DELETE the upstream
 * accepted (`delete`), a 404 of the upstream for it (`upstream`), its GET stream gone and
 * nothing heard for the gone-grace (`close`), idleness (`idle`), a control request
 * (`terminated`), or shutdown. What this side ends but the upstream did not (idle, close,
 * terminated) is ended upstream too, with a DELETE. `--max-sessions` caps them (slots, as for a
 * hosted server), adopted ones too. Only an id the upstream was seen to issue
 * ({@link IssuedSessions}) is ever adopted.
 */
import type { Logger } from 'pino';
import type { CloseReason, Connection } from '../../../shared/snapshot.js';
import type { DoorMethod, SessionAdmission } from '../../endpoint/front-door.js';
import type { SessionRegistry } from '../../sessions/session-registry.js';
import type { ReleaseSlot, SessionSlots } from '../../sessions/session-slots.js';
import { SessionTable, type SessionEnd, type TableSession } from '../../sessions/session-table.js';
import { IssuedSessions } from './issued-sessions.js';
import type { Upstream } from './upstream.js';

/** Options of {@link UpstreamSessions}. */
export interface UpstreamSessionsOptions {
  registry: SessionRegistry;
  upstream: Upstream;
  logger: Logger;
  maxSessions: number;
  sessionIdleMs: number;
  clock?: (() => number) | undefined;
  sweepIntervalMs?: number | undefined;
  goneGraceMs?: number | undefined;
  /** The server's directory in the state dir, where issued ids are remembered; default: in memory only. */
  dir?: string | undefined;
}

/**
 * Sessions ended on request remembered, so that their next requests get 404 here: forwarded,
 * they could reach the upstream before our DELETE does and be adopted again. Oldest forgotten first.
 */
const TERMINATED_KEPT = 10_000;

/** What a proxied session keeps: the version its DELETE is sent with, and its client's name. */
interface Proxied {
  protocolVersion: string | null;
  /** `clientInfo.name` of its `initialize` as sent; null for an adopted session (none seen). */
  client: string | null;
}

/** The proxied sessions of one child (`start()`/`close()`). */
export class UpstreamSessions {
  readonly #o: UpstreamSessionsOptions;
  readonly #table: SessionTable<Proxied>;
  readonly #terminated = new Set<string>();
  readonly #issued: IssuedSessions;
  /** The read of the issued ids, once start() was called. */
  #loading: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(o: UpstreamSessionsOptions) {
    this.#o = o;
    this.#table = new SessionTable<Proxied>({
      registry: o.registry,
      logger: o.logger,
      maxSessions: o.maxSessions,
      sessionIdleMs: o.sessionIdleMs,
      sweepIntervalMs: o.sweepIntervalMs,
      goneGraceMs: o.goneGraceMs,
      clock: o.clock,
      onEnd: (s, end) => this.#ended(s, end),
    });
    this.#issued = new IssuedSessions({ dir: o.dir, max: o.maxSessions, idleMs: o.sessionIdleMs, isOpen: (id) => this.#table.has(id), logger: o.logger, clock: o.clock });
  }

  get slots(): SessionSlots {
    return this.#table.slots;
  }

  get closing(): boolean {
    return this.#table.closing;
  }

  has(id: string): boolean {
    return this.#table.has(id);
  }

  /** The `clientInfo.name` session `id` was opened with (null when unknown or not listed). */
  client(id: string): string | null {
    return this.#table.get(id)?.data.client ?? null;
  }

  /** Whether `id` was ended on request: its requests get 404 without being forwarded. */
  terminated(id: string): boolean {
    return this.#terminated.has(id);
  }

  /**
   * Before its body is read (front-door.ts): a session listed here may send a large body; a POST
   * with an id the upstream issued and this child does not list (it restarted) is adopted only
   * with a slot, as an initialize is; any other id is forwarded, unlisted, with the small limit.
   */
  admit(id: string, method: DoorMethod): SessionAdmission {
    if (this.#table.has(id)) return 'held';
    if (method !== 'POST') return 'unlisted';
    return this.adoptionSlot(id) ?? 'unlisted';
  }

  /**
   * Ends session `id` on request: reason `terminated`, `by` who asked, and a
   * DELETE to the upstream. Returns false when no such session is open.
   */
  terminate(id: string, by: string): boolean {
    if (!this.#table.has(id)) return false;
    this.#terminated.add(id);
    if (this.#terminated.size > TERMINATED_KEPT) this.#terminated.delete(this.#terminated.values().next().value!);
    void this.#table.end(id, { reason: 'terminated', by, byPeer: false });
    return true;
  }

  /**
   * For a request with an id not listed here: a slot to adopt it with when the upstream issued
   * it (free it if the answer does not adopt); `full` when every slot is taken; undefined when
   * the id is never to be listed (forwarded only).
   */
  adoptionSlot(id: string): ReleaseSlot | 'full' | undefined {
    if (this.#table.closing || this.#table.has(id) || !this.#issued.adoptable(id)) return undefined;
    return this.#table.slots.reserve() ?? 'full';
  }

  /** Reads the ids issued before this start, then sweeps idle sessions (none when close() came meanwhile). Throws when called twice. */
  async start(): Promise<void> {
    if (this.#loading) throw new Error('UpstreamSessions already started');
    this.#loading = this.#issued.load();
    await this.#loading;
    this.#table.start();
  }

  /**
   * Ends every session here (reason `shutdown`); the upstream keeps them, and their ids are kept
   * for the next child to adopt. Resolves once a start() under way has read the ids and what is
   * pending is written; the same promise every time.
   */
  close(): Promise<void> {
    const ending = this.#table.close();
    this.#closed ??= (async () => {
      await ending;
      await this.#loading?.catch(() => undefined);
      await this.#issued.close();
    })();
    return this.#closed;
  }

  /**
   * A session the upstream opened (or, `adopted`, one it knows and we do not, after a restart
   * of this child): listed from now. `slot` is the reservation of its `initialize` or adoption, if any;
   * `client` the `clientInfo.name` its `initialize` sent.
   */
  open(connection: Connection, slot?: ReleaseSlot, client: string | null = null): void {
    slot?.();
    if (this.#table.has(connection.sessionId)) return;
    if (!this.#table.open(connection, { protocolVersion: connection.protocolVersion, client })) {
      this.#o.logger.warn({ sessionId: connection.sessionId }, 'upstream session id already listed (a modern client\'s?); forwarded but not listed');
      return;
    }
    this.#issued.add(connection.sessionId);
    // An answer that arrived after close() ended the others: its session ends as they did, or
    // its `connect` line would have no `disconnect` (the final snapshot lists no session).
    if (this.#table.closing) void this.#table.end(connection.sessionId, { reason: 'shutdown', byPeer: false });
  }

  /**
   * A request of session `id` starts; the returned function marks its end. `stream`: the GET
   * stream, whose end with nothing else open starts the gone-grace.
   */
  request(id: string, method: string | undefined, stream = false): () => void {
    const s = this.#table.get(id);
    return s ? this.#table.request(s, method, stream) : () => undefined;
  }

  /** The upstream ended session `id`: its DELETE accepted (`delete`), or a 404 for it (`upstream`). */
  end(id: string, reason: 'delete' | 'upstream'): void {
    // Not listed here (an id of before a restart): still never adopted again.
    if (!this.#table.has(id)) return this.#forget(id, reason);
    void this.#table.end(id, { reason, byPeer: true });
  }

  #ended(s: TableSession<Proxied>, end: SessionEnd): void {
    this.#forget(s.id, end.reason);
    // Ended here, not by the upstream: ended there too. A shutdown leaves it for the next child.
    if (!end.byPeer && end.reason !== 'shutdown') void this.#o.upstream.endSession(s.id, s.data.protocolVersion);
  }

  /**
   * Gone upstream (or ended there by us): never adopted again. `shutdown` and `close` leave the
   * upstream's session as it is, for the next child or the client's return.
   */
  #forget(id: string, reason: CloseReason): void {
    if (reason !== 'shutdown' && reason !== 'close') this.#issued.forget(id);
  }
}
