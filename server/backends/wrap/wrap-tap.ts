/**
 * What `wrap` learns from the bytes it relays, read as newline-delimited JSON-RPC (the MCP stdio
 * transport, https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#stdio):
 * it observes copies and never changes or holds back what passes. From the client: its
 * `clientInfo` and `protocolVersion` (from `initialize`, or from `params._meta` for a modern-era
 * client), every message as activity (`requestCount`, `lastActivity`, `lastMethod`), and each
 * request's arrival; from CMD: the response to each request, which times it and gives its
 * outcome, told to a {@link RequestObserver} (server/operations/finished-request.ts) as one
 * FinishedRequest, and each `tools/list` result, told as it passes.
 *
 * What either side writes is hostile input, so it is bounded: a line longer than
 * {@link TAP_MAX_LINE_BYTES} is skipped (it still passes whole), a line that is not JSON is
 * ignored, and at most {@link MAX_PENDING} requests are awaited at once (the oldest is forgotten).
 */
import type { Era } from '../../../shared/snapshot.js';
import { LineSplitter } from '../../../shared/line-splitter.js';
import type { RequestObserver } from '../../operations/finished-request.js';
import { clientName } from '../../operations/operation-tap.js';
import { requestOutcome } from '../../operations/request-outcome.js';
import { CLIENT_INFO_META_KEY, MODERN_PROTOCOL_VERSIONS } from '../../sessions/modern-clients.js';

/** The longest line the tap reads; a longer one is relayed unread. */
export const TAP_MAX_LINE_BYTES = 1024 * 1024;
/** Requests awaited at once; past it the oldest is forgotten (never recorded). */
export const MAX_PENDING = 1000;
/** Where a modern request carries its protocol version (spec 2026-07-28, as the SDK v2 client sends it). */
const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion';

interface Pending {
  t0: bigint;
  method: string;
  name: string | null;
  /** `params.cursor` of a `tools/list`. */
  cursor: string | undefined;
  /** The client's identity from `params._meta`, when the request is a modern one. */
  modern?: { clientInfo: unknown; protocolVersion: unknown };
}

/** What the connection's row follows; set by the stdio front once it is listed. */
export interface TapListener {
  /** A client message arrived (`method` when it has one). */
  activity(method: string | undefined): void;
  /** `clientInfo`, `protocolVersion` or `era` changed (from `initialize`, an activity follows; from a modern answer, none). */
  identity(): void;
}

type Message = Record<string, unknown>;

function idKey(id: unknown): string | undefined {
  return typeof id === 'string' ? `s${id}` : typeof id === 'number' ? `n${id}` : undefined;
}

/** Parses one line into its messages (a batch is several); none when it is not JSON-RPC. */
function messages(line: Buffer): Message[] {
  let v: unknown;
  try {
    v = JSON.parse(line.toString('utf8'));
  } catch {
    return [];
  }
  const all = Array.isArray(v) ? v : [v];
  return all.filter((m): m is Message => typeof m === 'object' && m !== null && !Array.isArray(m));
}

/** Options of a {@link WrapTap}. */
export interface WrapTapOptions {
  /** Told of every request CMD answered, and of every `tools/list` result. */
  requests: RequestObserver;
  /** The id of the one connection (its row's `sessionId`, listed for the wrapper's whole life). */
  sessionId: string;
  /** Default {@link TAP_MAX_LINE_BYTES}. */
  maxLineBytes?: number;
}

/** The observer of one wrapped connection (see the file comment). */
export class WrapTap {
  readonly #requests: RequestObserver;
  readonly #sessionId: string;
  readonly #pending = new Map<string, Pending>();
  readonly #fromClient: LineSplitter;
  readonly #fromServer: LineSplitter;
  #listener: TapListener | undefined;
  /** What the client said of itself; raw (the row bounds it). */
  clientInfo: unknown = null;
  protocolVersion: unknown = null;
  era: Era = 'legacy';
  /** Messages from the client so far. */
  requestCount = 0;
  lastActivity: Date | undefined;
  lastMethod: string | null = null;
  #initialized = false;
  /** Lines skipped as too long, either way. */
  skippedLines = 0;

  constructor(o: WrapTapOptions) {
    this.#requests = o.requests;
    this.#sessionId = o.sessionId;
    const maxLineBytes = o.maxLineBytes ?? TAP_MAX_LINE_BYTES;
    const skipped = () => void (this.skippedLines += 1);
    this.#fromClient = new LineSplitter(maxLineBytes, (line) => this.#clientLine(line), skipped);
    this.#fromServer = new LineSplitter(maxLineBytes, (line) => this.#serverLine(line), skipped);
  }

  /** Who hears of changes from now on (the stdio front, once the row is listed). */
  listen(listener: TapListener | undefined): void {
    this.#listener = listener;
  }

  /** Bytes the client sent. */
  client(chunk: Buffer): void {
    this.#fromClient.push(chunk);
  }

  /** Bytes CMD sent. */
  server(chunk: Buffer): void {
    this.#fromServer.push(chunk);
  }

  #clientLine(line: Buffer): void {
    for (const m of messages(line)) {
      const method = typeof m.method === 'string' ? m.method : undefined;
      const params = typeof m.params === 'object' && m.params !== null ? (m.params as Message) : undefined;
      if (method === 'initialize') {
        this.#initialized = true;
        this.clientInfo = params?.clientInfo ?? null;
        this.protocolVersion = params?.protocolVersion ?? null;
        this.era = 'legacy';
        this.#listener?.identity();
      }
      const key = idKey(m.id);
      if (method !== undefined && key !== undefined) this.#arrive(key, method, params);
      this.requestCount += 1;
      this.lastActivity = new Date();
      if (method !== undefined) this.lastMethod = method;
      this.#listener?.activity(method);
    }
  }

  #arrive(key: string, method: string, params: Message | undefined): void {
    const named = method === 'tools/call' || method === 'prompts/get';
    const name = named && typeof params?.name === 'string' ? params.name : null;
    const cursor = method === 'tools/list' && typeof params?.cursor === 'string' ? params.cursor : undefined;
    const p: Pending = { t0: process.hrtime.bigint(), method, name, cursor };
    const meta = typeof params?._meta === 'object' && params._meta !== null ? (params._meta as Message) : undefined;
    const version = meta?.[PROTOCOL_VERSION_META_KEY];
    if (!this.#initialized && typeof version === 'string' && MODERN_PROTOCOL_VERSIONS.has(version)) {
      p.modern = { clientInfo: meta?.[CLIENT_INFO_META_KEY] ?? null, protocolVersion: version };
    }
    // A repeated id replaces the one awaited (the client's mistake; the newer is what an answer is for).
    this.#pending.delete(key);
    this.#pending.set(key, p);
    if (this.#pending.size > MAX_PENDING) this.#pending.delete(this.#pending.keys().next().value!);
  }

  #serverLine(line: Buffer): void {
    // Nothing awaited: no line of CMD can be a response the tap wants (and parsing costs the most here).
    if (this.#pending.size === 0) return;
    for (const m of messages(line)) {
      // Only responses: CMD's own requests and notifications to the client are not operations.
      if (m.method !== undefined || (m.result === undefined && m.error === undefined)) continue;
      const key = idKey(m.id);
      const p = key === undefined ? undefined : this.#pending.get(key);
      if (!p) continue;
      this.#pending.delete(key!);
      const seconds = Number(process.hrtime.bigint() - p.t0) / 1e9;
      // A modern request answered with a result: the client speaks the modern era (no initialize came).
      if (p.modern && m.result !== undefined && !this.#initialized && this.era !== 'modern') {
        this.era = 'modern';
        this.clientInfo = p.modern.clientInfo;
        this.protocolVersion = p.modern.protocolVersion;
        this.#listener?.identity();
      }
      if (p.method === 'tools/list' && m.result !== undefined) this.#requests.toolsListed?.({ sessionId: this.#sessionId, cursor: p.cursor, result: m.result });
      const outcome = requestOutcome(m);
      this.#requests.finished({
        endedAtMs: Date.now(),
        seconds,
        sessionId: this.#sessionId,
        era: this.era,
        client: clientName(this.clientInfo),
        method: p.method,
        name: p.name,
        ...outcome,
        answered: outcome.outcome === 'ok',
      });
    }
  }

  /** Requests awaiting their response (for tests of the bound). */
  get pending(): number {
    return this.#pending.size;
  }
}
