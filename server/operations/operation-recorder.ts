/**
 * Counts and times what clients ask for (the snapshot's `operations` and `sessionDurations`, see
 * shared/operations.ts): every
 * JSON-RPC request the child serves, in either era and from any backend, by method, for
 * `tools/call` and `prompts/get` by name, and by `errorType` (what made it fail, after the
 * OpenTelemetry MCP conventions' `error.type`: the JSON-RPC code, `tool_error`, or null). Plain counters in memory: recording never writes;
 * the snapshot writer reads {@link OperationRecorder.operations} on the writes that happen
 * anyway (activity batches, heartbeats).
 *
 * Method and name come from clients, so they are bounded here. A tool or prompt name gets an entry
 * of its own only once the server has shown it knows it: it is in the server's catalog (the
 * {@link KnownName} hook), or, while no catalog is known, the server answered a call of it with a
 * result (not `isError: true`). A method gets one if the specification has it, or the server
 * answered it with a result. Everything else counts under `_OTHER` of its method, or method
 * `_OTHER`: invented names, even those of requests the host refused, never take a slot (a client
 * could otherwise fill the table with invented names). At most {@link MAX_OPERATIONS} entries in
 * all (near the cap, a new error code counts as `errorType` `_OTHER`); each string cut and
 * stripped of control characters.
 */
import {
  MAX_OPERATIONS,
  NAMED_METHODS,
  OPERATION_BOUNDS,
  OTHER_NAME,
  SESSION_DURATION_BOUNDS,
  SPEC_METHODS,
  canonicalName,
  emptyHistogram,
  observe,
  type Histogram,
  type Operation,
} from '../../shared/operations.js';
import { lastBoundText } from '../sessions/client-fields.js';
import type { FinishedRequest, RequestObserver } from './finished-request.js';

/** Longest method name kept (the spec's are under 40 characters). */
export const METHOD_MAX = 64;
/** Longest tool or prompt name kept. */
export const NAME_MAX = 128;

// Entries kept back for the `_OTHER` buckets, so that a flood of new names always has a place to
// go: method `_OTHER` and the `_OTHER` name of each named method, each with the three error types
// left near the cap (null, `tool_error`, `_OTHER`).
const RESERVED = (NAMED_METHODS.length + 1) * 3;

/** The `errorType` of a request that ended so (docs/state-directory.md, the snapshot schema): the caller's faults are not errors. */
export function errorTypeOf(r: Pick<FinishedRequest, 'outcome' | 'errorCode'>): string | null {
  if (r.outcome === 'tool_error') return 'tool_error';
  if (r.outcome !== 'error') return null;
  return r.errorCode === null ? OTHER_NAME : String(r.errorCode);
}

interface Entry extends Operation {
  errorType: string | null;
  durationSeconds: { sum: number; buckets: number[] };
  /** When its last request ended (ms since the epoch), `tools/call` entries only: published as `lastCalledAt`. */
  lastCalledMs?: number;
}

/**
 * The hook for the server's catalog: whether `name` is one of its tools
 * (`tools/call`) or prompts (`prompts/get`), or `undefined` while no catalog is known, when the
 * server's answers decide instead.
 */
export type KnownName = (method: string, name: string) => boolean | undefined;

export interface OperationRecorderOptions {
  knownName?: KnownName;
}

/** The snapshot's `operations` and `sessionDurations`: one of the writer's {@link RequestObserver}s. */
export class OperationRecorder implements RequestObserver {
  readonly #entries = new Map<string, Entry>();
  /** The method and name pairs that have an entry, whatever its error type (what makes a name known). */
  readonly #named = new Set<string>();
  readonly #knownName: KnownName;
  #sessions: Histogram = emptyHistogram(SESSION_DURATION_BOUNDS);
  #changed = false;
  // The same method and tool name come request after request: bounded once each.
  readonly #boundMethod = lastBoundText(METHOD_MAX);
  readonly #boundName = lastBoundText(NAME_MAX);

  constructor(options: OperationRecorderOptions = {}) {
    this.#knownName = options.knownName ?? (() => undefined);
  }

  /**
   * Continues from the counts of a previous writer of this server id (they survive restarts,
   * like `totalConnections`). Call once, before anything is recorded.
   */
  carryOver(previous: { operations?: readonly Operation[] | undefined; sessionDurations?: Histogram | undefined }): void {
    for (const op of previous.operations ?? []) {
      // An older writer's `_other` is `_OTHER`; should a file hold both, they are one entry.
      const method = canonicalName(op.method);
      const name = canonicalName(op.name);
      // An entry of a writer from before errorType is one of successes (its errors kept as they are).
      const errorType = op.errorType ?? null;
      const found = this.#entries.get(key(method, name, errorType));
      const lastCalledMs = method === 'tools/call' && op.lastCalledAt !== undefined ? Date.parse(op.lastCalledAt) : undefined;
      if (found) {
        found.count += op.count;
        found.errors += op.errors;
        found.durationSeconds.sum += op.durationSeconds.sum;
        op.durationSeconds.buckets.forEach((b, i) => (found.durationSeconds.buckets[i]! += b));
        if (lastCalledMs !== undefined) found.lastCalledMs = Math.max(found.lastCalledMs ?? 0, lastCalledMs);
        continue;
      }
      if (this.#entries.size >= MAX_OPERATIONS) break;
      this.#entries.set(key(method, name, errorType), {
        method,
        name,
        errorType,
        count: op.count,
        errors: op.errors,
        durationSeconds: { sum: op.durationSeconds.sum, buckets: [...op.durationSeconds.buckets] },
        ...(lastCalledMs !== undefined && { lastCalledMs }),
      });
    }
    for (const e of this.#entries.values()) this.#named.add(key(e.method, e.name, null));
    if (previous.sessionDurations) this.#sessions = { ...previous.sessionDurations, buckets: [...previous.sessionDurations.buckets] };
  }

  /**
   * Records one request from its arrival to its end. `method` and `name` are what the client sent
   * (bounded here); `name` is kept only for `tools/call` and `prompts/get`. Only `answered` (a
   * result of the server, for `tools/call` without `isError: true`) makes a new method or name
   * known. A `rejected` request (the caller's fault) is counted, and timed, but not as an error;
   * an `error` or `tool_error` is counted in an entry of its error type, all of whose requests are errors.
   */
  finished(r: FinishedRequest): void {
    const m = this.#method(this.#boundMethod(r.method) ?? '', r.answered);
    const named = NAMED_METHODS.includes(m);
    const n = named ? this.#name(m, this.#boundName(r.name) ?? OTHER_NAME, r.answered) : null;
    const e = this.#entry(m, n, errorTypeOf(r));
    e.count += 1;
    if (e.errorType !== null) e.errors += 1;
    observe(e.durationSeconds, OPERATION_BOUNDS, Math.max(0, r.seconds));
    // The time of a tool's last call (GET …/tools), for tools only: one number, no string per request.
    if (m === 'tools/call') e.lastCalledMs = r.endedAtMs;
    this.#changed = true;
  }

  /** Records the duration of one ended connection (either era). */
  sessionEnded(seconds: number): void {
    observe(this.#sessions, SESSION_DURATION_BOUNDS, Math.max(0, seconds));
    this.#sessions.count += 1;
    this.#changed = true;
  }

  /** True once after something was recorded since the last call (for writers that skip unchanged data). */
  takeChanged(): boolean {
    const c = this.#changed;
    this.#changed = false;
    return c;
  }

  /** The entries as the snapshot holds them (copies), at most {@link MAX_OPERATIONS}. */
  operations(): Operation[] {
    return [...this.#entries.values()].map(({ lastCalledMs, ...e }) => ({
      ...e,
      durationSeconds: { sum: e.durationSeconds.sum, buckets: [...e.durationSeconds.buckets] },
      ...(lastCalledMs !== undefined && { lastCalledAt: new Date(lastCalledMs).toISOString() }),
    }));
  }

  /** The session-duration histogram as the snapshot holds it (a copy). */
  sessionDurations(): Histogram {
    return { ...this.#sessions, buckets: [...this.#sessions.buckets] };
  }

  /** `method` if the specification has it, the server answered it, or it has an entry; else `_OTHER`. */
  #method(method: string, answered: boolean): string {
    if (method === '') return OTHER_NAME;
    if (SPEC_METHODS.has(method) || answered || this.#named.has(key(method, null, null))) return method;
    return OTHER_NAME;
  }

  /** `name` if the catalog has it (or, with no catalog, the server answered it, or it has an entry); else `_OTHER`. */
  #name(method: string, name: string, answered: boolean): string {
    const inCatalog = this.#knownName(method, name);
    if (inCatalog !== undefined) return inCatalog ? name : OTHER_NAME;
    return answered || this.#named.has(key(method, name, null)) ? name : OTHER_NAME;
  }

  #entry(method: string, name: string | null, errorType: string | null): Entry {
    const found = this.#entries.get(key(method, name, errorType));
    if (found) return found;
    // Near the cap: a new error code is `_OTHER`; then a new name goes to `_OTHER` of its method,
    // a new method to method `_OTHER` (each has its slots kept back, so the entries never pass
    // MAX_OPERATIONS).
    let m = method;
    let n = name;
    let t = errorType;
    if (this.#entries.size >= MAX_OPERATIONS - RESERVED) {
      if (t !== null && t !== 'tool_error') t = OTHER_NAME;
      const same = this.#entries.get(key(m, n, t));
      if (same) return same;
      if (name !== null) n = OTHER_NAME;
      else m = OTHER_NAME;
      const other = this.#entries.get(key(m, n, t));
      if (other) return other;
    }
    const e: Entry = { method: m, name: n, errorType: t, count: 0, errors: 0, durationSeconds: { sum: 0, buckets: OPERATION_BOUNDS.map(() => 0) } };
    this.#entries.set(key(m, n, t), e);
    this.#named.add(key(m, n, null));
    return e;
  }
}

function key(method: string, name: string | null, errorType: string | null): string {
  return `${method}\u0000${name ?? ''}\u0000${errorType ?? ''}`;
}
