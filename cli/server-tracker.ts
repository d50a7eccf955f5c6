/**
 * What `tail` knows of one server, turned into events: journal lines and successive snapshots
 * come in, `connect` / `disconnect` / `start` / `running` / `stop` / `stale` / `fresh` /
 * `invalid` events go out, each once.
 *
 * The journal is the better source (it has the reasons); snapshots fill in when it is missing
 * or behind: a session that leaves the snapshot without a journal line within `graceMs` is
 * reported with reason `unknown` (or `shutdown` when the writer was stopping). A writer that
 * died takes its sessions with it: reason `writer-died`.
 *
 * A writer is its `(pid, startedAt)`: a restart that gets the same pid (a container's child
 * is always pid 7) is a restart, and a pid that an earlier writer had is not muted for good.
 * Journal lines other than `start` carry only the pid: they belong to the current writer when
 * the pid is its own, and are news of a gone writer when the pid is a replaced writer's.
 */
import { eraOf } from '../shared/eras.js';
import type { JournalLine } from '../shared/journal.js';
import type { ServerState } from '../shared/io/server-state.js';
import { isNewer, type ClientInfo, type CloseReason, type Connection, type Era, type Snapshot } from '../shared/snapshot.js';
import { writerLiveness, type VerdictState } from '../shared/verdict.js';

/** Why a session ended, as `tail` reports it: the journal's reasons, or what tail inferred. */
export type TailCloseReason = CloseReason | 'writer-died' | 'unknown';

export type TailEvent =
  | { event: 'state'; ts: string; serverId: string; verdict: VerdictState; why: string[]; status: Snapshot['status'] | null; pid: number | null; seq: number | null; startedAt: string | null; activeConnections: number; totalConnections: number; mcpUrl: string | null; connections: Connection[]; error: string | null }
  | { event: 'start'; ts: string; serverId: string; pid: number; startedAt: string | null; restart: boolean; previousPid: number | null; previousStoppedCleanly: boolean | null }
  | { event: 'running'; ts: string; serverId: string; pid: number; mcpUrl: string | null }
  | { event: 'connect'; ts: string; serverId: string; pid: number; sessionId: string; era: Era; clientIP: string | null; userAgent: string | null; clientInfo: ClientInfo | null; protocolVersion: string | null; connectedAt: string | null }
  | { event: 'disconnect'; ts: string; serverId: string; pid: number; sessionId: string; era: Era; reason: TailCloseReason; by: string | null; durationMs: number | null; requestCount: number | null; clientIP: string | null; clientInfo: ClientInfo | null }
  | { event: 'stop'; ts: string; serverId: string; pid: number }
  | { event: 'stale'; ts: string; serverId: string; pid: number; since: string; why: string[] }
  | { event: 'fresh'; ts: string; serverId: string; pid: number }
  | { event: 'invalid'; ts: string; serverId: string; file: string; error: string };

interface Session {
  pid: number;
  sessionId: string;
  /** A journal line or connection without it is of a writer from before eras were recorded: legacy. */
  era: Era;
  clientIP: string | null;
  userAgent: string | null;
  clientInfo: ClientInfo | null;
  protocolVersion: string | null;
  connectedAt: string | null;
  requestCount: number | null;
}

export interface ServerTrackerOptions {
  serverId: string;
  emit: (event: TailEvent) => void;
  /** How long a session gone from the snapshot waits for its journal line. Default 1000. */
  graceMs?: number;
  now?: () => number;
}

/** Session ids remembered as ended, so late news of them is dropped; oldest forgotten first. */
const CLOSED_KEPT = 10_000;

export class ServerTracker {
  readonly serverId: string;
  readonly #emit: (event: TailEvent) => void;
  readonly #graceMs: number;
  readonly #now: () => number;
  /** The current writer; `startedAt` null while only lines without it were seen. */
  #writer: { pid: number; startedAt: string | null } | undefined;
  #stopped = false;
  #announcedRunning = false;
  /** Pids of replaced writers (until a new writer gets one of them again). */
  readonly #pastPids = new Set<number>();
  /** `pid@startedAt` of replaced writers: their snapshots and start lines are old news. */
  readonly #pastWriters = new Set<string>();
  readonly #open = new Map<string, Session>();
  readonly #closed = new Set<string>();
  readonly #pending = new Map<string, { deadline: number; reason: TailCloseReason }>();
  #snapshot: Snapshot | undefined;
  #stale = false;
  /** Stale because its pid is gone (not only late). */
  #dead = false;
  #invalid: string | undefined;

  constructor(options: ServerTrackerOptions) {
    this.serverId = options.serverId;
    this.#emit = options.emit;
    this.#graceMs = options.graceMs ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  #ts(): string {
    return new Date(this.#now()).toISOString();
  }

  /** The state when tail starts (or a server comes back from an invalid file): one `state` event. */
  initial(state: ServerState): void {
    const snap = state.snapshot;
    if (snap) {
      this.#snapshot = snap;
      this.#invalid = undefined;
      if (this.#writer && !this.#isCurrent(snap.pid, snap.startedAt)) this.#retire(this.#writer);
      this.#pastPids.delete(snap.pid);
      this.#writer = { pid: snap.pid, startedAt: snap.startedAt };
      this.#stopped = snap.status === 'stopped';
      this.#announcedRunning = snap.status !== 'starting';
      this.#stale = this.#suspect(state);
      this.#dead = this.#stale && this.#gone(state);
      this.#open.clear();
      this.#pending.clear();
      for (const c of snap.connections) this.#open.set(c.sessionId, sessionOf(c, snap.pid));
    } else {
      this.#invalid = state.error ?? undefined;
    }
    this.#emit({
      event: 'state', ts: this.#ts(), serverId: this.serverId, verdict: state.verdict.state, why: state.verdict.why,
      status: snap?.status ?? null, pid: snap?.pid ?? null, seq: snap?.seq ?? null, startedAt: snap?.startedAt ?? null,
      activeConnections: snap?.activeConnections ?? 0, totalConnections: snap?.totalConnections ?? 0, mcpUrl: snap?.mcp?.url ?? null,
      connections: snap?.connections ?? [], error: state.error,
    });
  }

  /** Lines appended to the journal, in order. */
  journal(lines: JournalLine[]): void {
    for (const line of lines) {
      const startedAt = line.event === 'start' ? (line.startedAt ?? null) : null;
      if (line.event === 'start' && startedAt !== null) {
        if (this.#pastWriters.has(writerKey(line.pid, startedAt))) continue; // a replaced writer's
      } else if (this.#pastPids.has(line.pid) && this.#writer?.pid !== line.pid) {
        continue; // news of a writer that is gone
      }
      this.#become(line.pid, line.ts, startedAt);
      switch (line.event) {
        case 'connect':
          this.#connect({ pid: line.pid, sessionId: line.sessionId, era: eraOf(line.era), clientIP: line.clientIP ?? null, userAgent: line.userAgent ?? null, clientInfo: line.clientInfo ?? null, protocolVersion: line.protocolVersion ?? null, connectedAt: line.connectedAt ?? line.ts, requestCount: line.requestCount ?? null }, line.ts);
          break;
        case 'disconnect': {
          if (this.#closed.has(line.sessionId)) break;
          const known = this.#open.get(line.sessionId);
          this.#close(line.sessionId, line.reason, line.ts, {
            pid: line.pid, sessionId: line.sessionId, era: line.era === undefined && known ? known.era : eraOf(line.era), clientIP: line.clientIP ?? known?.clientIP ?? null, userAgent: line.userAgent ?? known?.userAgent ?? null,
            clientInfo: line.clientInfo ?? known?.clientInfo ?? null, protocolVersion: known?.protocolVersion ?? null, connectedAt: known?.connectedAt ?? null, requestCount: line.requestCount,
          }, line.durationMs, line.by ?? null);
          break;
        }
        case 'stop':
          this.#stop(line.pid, line.ts);
          break;
        case 'start':
          break;
      }
    }
  }

  /** The current snapshot file: read, or why it cannot be used. */
  snapshot(state: ServerState): void {
    const snap = state.snapshot;
    if (!snap) {
      if (state.error !== null && state.error !== this.#invalid) {
        this.#invalid = state.error;
        // A server that never had a snapshot is just not there yet.
        if (this.#snapshot || !/no such file/.test(state.error)) this.#emit({ event: 'invalid', ts: this.#ts(), serverId: this.serverId, file: state.file, error: state.error });
      }
      return;
    }
    if (this.#invalid !== undefined && this.#snapshot) {
      // Usable again after being invalid: say where things stand.
      this.#invalid = undefined;
      if (isNewer(snap, this.#snapshot)) this.initial(state);
      return;
    }
    this.#invalid = undefined;
    if (this.#pastWriters.has(writerKey(snap.pid, snap.startedAt)) || !isNewer(snap, this.#snapshot)) {
      this.#judge(state);
      return;
    }
    this.#snapshot = snap;
    this.#become(snap.pid, snap.writtenAt, snap.startedAt);
    const inSnapshot = new Set<string>();
    for (const c of snap.connections) {
      inSnapshot.add(c.sessionId);
      const known = this.#open.get(c.sessionId);
      if (known) known.requestCount = c.requestCount;
      else this.#connect(sessionOf(c, snap.pid), c.connectedAt);
      // Listed again: it had not left. (A write built before its connect can land after the
      // journal's connect line, and then the snapshot with it.)
      this.#pending.delete(c.sessionId);
    }
    const ending = snap.status === 'stopping' || snap.status === 'stopped';
    for (const id of this.#open.keys()) {
      if (!inSnapshot.has(id) && !this.#pending.has(id)) this.#pending.set(id, { deadline: this.#now() + this.#graceMs, reason: ending ? 'shutdown' : 'unknown' });
    }
    if (snap.status === 'running' && !this.#announcedRunning) {
      this.#announcedRunning = true;
      this.#emit({ event: 'running', ts: snap.writtenAt, serverId: this.serverId, pid: snap.pid, mcpUrl: snap.mcp?.url ?? null });
    }
    if (snap.status === 'stopped') this.#stop(snap.pid, snap.writtenAt);
    this.#judge(state);
  }

  /** Reports sessions whose journal line did not come in time. */
  tick(): void {
    const now = this.#now();
    for (const [id, p] of this.#pending) {
      if (p.deadline > now) continue;
      const s = this.#open.get(id);
      if (s) this.#close(id, p.reason, this.#ts(), s, null);
      this.#pending.delete(id);
    }
  }

  #judge(state: ServerState): void {
    const snap = state.snapshot;
    if (!snap || !this.#isCurrent(snap.pid, snap.startedAt) || state.verdict.state === 'invalid') return;
    const stale = this.#suspect(state);
    const dead = stale && this.#gone(state);
    // Once when it goes stale, and once more if a writer that was only late then dies.
    if (stale && (!this.#stale || (dead && !this.#dead))) {
      this.#stale = true;
      this.#dead = dead;
      this.#emit({ event: 'stale', ts: this.#ts(), serverId: this.serverId, pid: snap.pid, since: snap.writtenAt, why: state.verdict.why });
      if (dead) {
        for (const [id, s] of [...this.#open]) this.#close(id, 'writer-died', this.#ts(), s, null);
      }
    } else if (!stale && this.#stale && state.verdict.state === 'running') {
      this.#stale = false;
      this.#dead = false;
      this.#emit({ event: 'fresh', ts: this.#ts(), serverId: this.serverId, pid: snap.pid });
    }
  }

  /**
   * Stale for tail: the verdict says so, and not only because the pid looks dead while the lock
   * and heartbeat are fresh (the pid is a hint: see {@link writerLiveness}).
   */
  #suspect(state: ServerState): boolean {
    if (state.verdict.state !== 'stale') return false;
    return !state.snapshot || !state.probe || writerLiveness(state.snapshot, state.probe, this.#now()) !== 'alive';
  }

  /** Gone for good (its sessions with it): lock not held or not refreshed, or late with its pid gone. */
  #gone(state: ServerState): boolean {
    return !!state.snapshot && !!state.probe && writerLiveness(state.snapshot, state.probe, this.#now()) === 'gone';
  }

  /** Whether `(pid, startedAt)` is the current writer; a start not known on either side leaves it to the pid. */
  #isCurrent(pid: number, startedAt: string | null): boolean {
    const w = this.#writer;
    if (!w || w.pid !== pid) return false;
    return startedAt === null || w.startedAt === null || w.startedAt === startedAt;
  }

  #retire(w: { pid: number; startedAt: string | null }): void {
    this.#pastPids.add(w.pid);
    if (w.startedAt !== null) this.#pastWriters.add(writerKey(w.pid, w.startedAt));
  }

  /** Makes `(pid, startedAt)` the current writer; a new one is a (re)start. */
  #become(pid: number, ts: string, startedAt: string | null): void {
    if (this.#isCurrent(pid, startedAt)) {
      this.#writer!.startedAt ??= startedAt;
      return;
    }
    const previous = this.#writer;
    const clean = this.#stopped;
    if (previous !== undefined) {
      this.#retire(previous);
      for (const [id, s] of [...this.#open]) this.#close(id, clean ? 'shutdown' : 'writer-died', ts, s, null);
    }
    // A pid seen before is this writer's now (A:7, B:25, C:7).
    this.#pastPids.delete(pid);
    this.#writer = { pid, startedAt };
    this.#stopped = false;
    this.#stale = false;
    this.#dead = false;
    this.#announcedRunning = false;
    this.#pending.clear();
    this.#emit({ event: 'start', ts, serverId: this.serverId, pid, startedAt, restart: previous !== undefined, previousPid: previous?.pid ?? null, previousStoppedCleanly: previous === undefined ? null : clean });
  }

  #connect(s: Session, ts: string): void {
    if (this.#open.has(s.sessionId) || this.#closed.has(s.sessionId)) return;
    this.#open.set(s.sessionId, s);
    this.#emit({ event: 'connect', ts, serverId: this.serverId, pid: s.pid, sessionId: s.sessionId, era: s.era, clientIP: s.clientIP, userAgent: s.userAgent, clientInfo: s.clientInfo, protocolVersion: s.protocolVersion, connectedAt: s.connectedAt });
  }

  /** `by`: who asked, for a session ended on request (reason `terminated`). */
  #close(id: string, reason: TailCloseReason, ts: string, s: Session, durationMs: number | null, by: string | null = null): void {
    this.#open.delete(id);
    this.#pending.delete(id);
    this.#closed.add(id);
    if (this.#closed.size > CLOSED_KEPT) this.#closed.delete(this.#closed.values().next().value!);
    const duration = durationMs ?? (s.connectedAt ? Math.max(0, Date.parse(ts) - Date.parse(s.connectedAt)) : null);
    this.#emit({ event: 'disconnect', ts, serverId: this.serverId, pid: s.pid, sessionId: id, era: s.era, reason, by, durationMs: duration, requestCount: s.requestCount, clientIP: s.clientIP, clientInfo: s.clientInfo });
  }

  #stop(pid: number, ts: string): void {
    if (this.#stopped || pid !== this.#writer?.pid) return;
    for (const [id, s] of [...this.#open]) this.#close(id, 'shutdown', ts, s, null);
    this.#stopped = true;
    this.#stale = false;
    this.#emit({ event: 'stop', ts, serverId: this.serverId, pid });
  }
}

function writerKey(pid: number, startedAt: string): string {
  return `${pid}@${startedAt}`;
}

function sessionOf(c: Connection, pid: number): Session {
  return { pid, sessionId: c.sessionId, era: eraOf(c.era), clientIP: c.clientIP, userAgent: c.userAgent, clientInfo: c.clientInfo, protocolVersion: c.protocolVersion, connectedAt: c.connectedAt, requestCount: c.requestCount };
}

