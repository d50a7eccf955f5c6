/**
 * The snapshot schema `mcp-monitor/snapshot@1`: what the MCP child publishes in
 * `state/<serverId>/snapshot.json` and every reader (API, CLI) validates.
 * Pure data and functions: no I/O here.
 */
import { SESSION_DURATION_BOUNDS, operationBoundsOf, validateHistogram, validateOperationBounds, validateOperations, type Histogram, type Operation } from './operations.js';
import { validateProcesses, type SnapshotProcess } from './snapshot-processes.js';
import { validateCatalog, type Catalog } from './tool-catalog.js';
import { ISO_UTC, isCount, isObject } from './validate.js';

export type { SnapshotProcess } from './snapshot-processes.js';

export const SNAPSHOT_SCHEMA = 'mcp-monitor/snapshot@1';

export const WRITER_STATUSES = ['starting', 'running', 'stopping', 'stopped'] as const;
export type WriterStatus = (typeof WRITER_STATUSES)[number];

export const WRITE_REASONS = ['startup', 'connect', 'disconnect', 'activity', 'heartbeat', 'shutdown'] as const;
export type WriteReason = (typeof WRITE_REASONS)[number];

/**
 * Why a connection ended: the first four since the beginning; `terminated` (ended on request, see
 * control-request.ts), `process-exit` (its stdio process exited, `--command`) and `upstream` (the
 * upstream server ended it, `--upstream`) added to schema @1.
 */
export const CLOSE_REASONS = ['delete', 'close', 'idle', 'shutdown', 'terminated', 'process-exit', 'upstream'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** A zero for every close reason. */
export function noneClosed(): Record<CloseReason, number> {
  return Object.fromEntries(CLOSE_REASONS.map((r) => [r, 0])) as Record<CloseReason, number>;
}

/**
 * Protocol eras: `legacy` (2024-11-05 … 2025-11-25: `initialize`, a session id)
 * and `modern` (2026-07-28 on: no sessions; identity on every request).
 */
export const ERAS = ['legacy', 'modern'] as const;
export type Era = (typeof ERAS)[number];

/** Where the writer's MCP server comes from: built-in tools, `--entry`, `--upstream`, `--command`, or a stdio server a client launched through `wrap`. */
export const BACKEND_KINDS = ['builtin', 'entry', 'upstream', 'command', 'wrap'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** A snapshot of a `running` writer older than this many heartbeats is stale. */
export const STALE_HEARTBEATS = 3;

export interface ClientInfo {
  name: string;
  version: string;
  title?: string;
  [key: string]: unknown;
}

/** How a connection reaches its server: HTTP (`/mcp`), or the pipe of a stdio server a client launched (`wrap`). */
export const TRANSPORTS = ['http', 'stdio'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** The process that launched a `wrap` (the client application): its pid and its name in the process table, null where unknown. */
export interface LaunchedBy {
  pid: number;
  name: string | null;
}

/** The stdio process of a `--command` session. */
export interface ConnectionProcess {
  pid: number;
  rssBytes: number | null;
}

/**
 * One connection as the child records it: a legacy session, or a modern (sessionless) client,
 * whose `sessionId` is `m-` and 16 hex digits (see server/sessions/modern-clients.ts).
 */
export interface Connection {
  sessionId: string;
  /** Null for a `wrap` connection (a pipe has no address). */
  clientIP: string | null;
  userAgent: string | null;
  connectedAt: string;
  lastActivity: string;
  requestCount: number;
  clientInfo: ClientInfo | null;
  protocolVersion: string | null;
  /** Added to schema @1: readers accept a connection without it (then `legacy`). */
  era?: Era;
  /** JSON-RPC method of its last request; added to schema @1. */
  lastMethod?: string | null;
  /** Its stdio process (`--command`, `wrap`), else null; added to schema @1. */
  process?: ConnectionProcess | null;
  /** `http`, or `stdio` for a `wrap` connection; added to schema @1 (absent: `http`). */
  transport?: Transport;
  /** The process that launched a `wrap`, else null; added to schema @1. */
  launchedBy?: LaunchedBy | null;
}

/** The backend of the child: `target` is the module, URL (no credentials) or command line. */
export interface PublishedBackend {
  kind: BackendKind;
  target: string | null;
  /**
   * `upstream` only (our addition, so that health can name an unreachable upstream):
   * whether the last request forwarded to it got an HTTP answer, and if not, why, in one line
   * without credentials. Absent for other kinds; null before the first request.
   */
  upstream?: UpstreamState | null;
}

/** What the proxy last saw of its upstream. */
export interface UpstreamState {
  reachable: boolean;
  /** Why it was not (`connect ECONNREFUSED 127.0.0.1:9`), else null. */
  error: string | null;
  /** When `reachable` last changed (ISO-8601). */
  since: string;
}

export interface McpEndpoint {
  url: string;
  endpoint: string;
  port: number;
}

export interface Snapshot {
  schema: typeof SNAPSHOT_SCHEMA;
  serverId: string;
  pid: number;
  seq: number;
  status: WriterStatus;
  reason: WriteReason;
  startedAt: string;
  writtenAt: string;
  heartbeatMs: number;
  /** Null only before the MCP port is bound (`starting`) and after it is closed. */
  mcp: McpEndpoint | null;
  activeConnections: number;
  totalConnections: number;
  lastUpdated: string;
  connections: Connection[];
  /**
   * Sessions closed since the first start of this server id, by reason (carried over across
   * restarts like totalConnections). Optional: an extension of schema @1 that readers may lack.
   */
  sessionsClosed?: Record<CloseReason, number>;
  /** Added to schema @1 (readers accept a snapshot without it). */
  backend?: PublishedBackend;
  /** What clients asked for since the first start of this server id (see operations.ts); added to schema @1. */
  operations?: Operation[];
  /**
   * Bounds (seconds) of the `operations` buckets: the OpenTelemetry MCP conventions' (operations.ts
   * OPERATION_BOUNDS); a snapshot without it has LEGACY_OPERATION_BOUNDS. Added to schema @1.
   */
  operationBounds?: number[];
  /** Durations of ended connections of both eras, seconds, since the first start; added to schema @1. */
  sessionDurations?: Histogram;
  /** `--command`: every stdio process that has not exited yet; added to schema @1 (readers accept a snapshot without it). */
  processes?: SnapshotProcess[];
  /** Lines of the calls journal (`calls.jsonl`) this writer process could not write (0 normally); added to schema @1. */
  callsDropped?: number;
  /**
   * The server's tools as its last complete `tools/list` answer showed them (see tool-catalog.ts),
   * null until one passed; carried over across restarts. Added to schema @1 (readers accept a
   * snapshot without it).
   */
  catalog?: Catalog | null;
}

/** A snapshot that does not follow the schema; `code` is always `EINVALID`. */
export class SnapshotValidationError extends Error {
  readonly code = 'EINVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SnapshotValidationError';
  }
}

type Obj = Record<string, unknown>;

function fail(path: string, what: string): never {
  throw new SnapshotValidationError(`${path} ${what}`);
}

function str(o: Obj, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${path}${key}`, v === undefined ? 'is missing' : 'must be a string');
  return v;
}

/**
 * An ISO-8601 UTC time. `checkDate` also rejects impossible dates (month 13); the per-connection
 * times skip it: it is a third of the cost of validating 10,000 connections (bench/).
 */
function time(o: Obj, key: string, path: string, checkDate = true): string {
  const v = str(o, key, path);
  if (!ISO_UTC.test(v) || (checkDate && Number.isNaN(Date.parse(v)))) fail(`${path}${key}`, `is not an ISO-8601 UTC time: ${JSON.stringify(v)}`);
  return v;
}

function count(o: Obj, key: string, path: string): number {
  const v = o[key];
  if (!isCount(v)) fail(`${path}${key}`, v === undefined ? 'is missing' : 'must be a non-negative integer');
  return v;
}

function nullableStr(o: Obj, key: string, path: string): string | null {
  const v = o[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') fail(`${path}${key}`, 'must be a string or null');
  return v;
}

function oneOf<T extends string>(o: Obj, key: string, allowed: readonly T[], path = ''): T {
  const v = str(o, key, path);
  if (!(allowed as readonly string[]).includes(v)) fail(`${path}${key}`, `must be one of ${allowed.join('|')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function validateConnection(v: unknown, i: number): Connection {
  const p = `connections[${i}].`;
  if (!isObject(v)) fail(`connections[${i}]`, 'must be an object');
  let clientInfo: ClientInfo | null = null;
  if (v.clientInfo !== null && v.clientInfo !== undefined) {
    if (!isObject(v.clientInfo)) fail(`${p}clientInfo`, 'must be an object or null');
    str(v.clientInfo, 'name', `${p}clientInfo.`);
    clientInfo = v.clientInfo as ClientInfo;
  }
  const c: Connection = {
    sessionId: str(v, 'sessionId', p),
    // Required, null for a `wrap` connection (a pipe has no address).
    clientIP: v.clientIP === null ? null : str(v, 'clientIP', p),
    userAgent: nullableStr(v, 'userAgent', p),
    connectedAt: time(v, 'connectedAt', p, false),
    lastActivity: time(v, 'lastActivity', p, false),
    requestCount: count(v, 'requestCount', p),
    clientInfo,
    protocolVersion: nullableStr(v, 'protocolVersion', p),
  };
  // Fields added to schema @1: absent in older files, checked when present.
  if (v.era !== undefined) {
    if (!(ERAS as readonly unknown[]).includes(v.era)) fail(`${p}era`, `must be one of ${ERAS.join('|')}`);
    c.era = v.era as Era;
  }
  if (v.lastMethod !== undefined) c.lastMethod = nullableStr(v, 'lastMethod', p);
  if (v.process !== undefined && v.process !== null) {
    if (!isObject(v.process)) fail(`${p}process`, 'must be an object or null');
    const pid = count(v.process, 'pid', `${p}process.`);
    const rss = v.process.rssBytes;
    if (rss !== null && !isCount(rss)) fail(`${p}process.rssBytes`, 'must be a non-negative integer or null');
    c.process = { pid, rssBytes: rss as number | null };
  } else if (v.process === null) c.process = null;
  if (v.transport !== undefined) {
    if (!(TRANSPORTS as readonly unknown[]).includes(v.transport)) fail(`${p}transport`, `must be one of ${TRANSPORTS.join('|')}`);
    c.transport = v.transport as Transport;
  }
  if (v.launchedBy !== undefined && v.launchedBy !== null) {
    if (!isObject(v.launchedBy)) fail(`${p}launchedBy`, 'must be an object or null');
    const pid = count(v.launchedBy, 'pid', `${p}launchedBy.`);
    if (pid === 0) fail(`${p}launchedBy.pid`, 'must be a positive integer');
    c.launchedBy = { pid, name: nullableStr(v.launchedBy, 'name', `${p}launchedBy.`) };
  } else if (v.launchedBy === null) c.launchedBy = null;
  return c;
}

/** Runs a validator of operations.ts, turning its TypeError into a {@link SnapshotValidationError}. */
function checked<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw new SnapshotValidationError((err as Error).message, { cause: err });
  }
}

/**
 * Checks that `value` is a snapshot of schema `mcp-monitor/snapshot@1` and returns it typed.
 * Unknown fields are kept and ignored; a missing required field or another schema throws a
 * {@link SnapshotValidationError} that names the field.
 */
export function validateSnapshot(value: unknown): Snapshot {
  if (!isObject(value)) fail('snapshot', 'must be a JSON object');
  if (value.schema !== SNAPSHOT_SCHEMA) {
    fail('schema', value.schema === undefined ? 'is missing' : `is ${JSON.stringify(value.schema)}, expected "${SNAPSHOT_SCHEMA}"`);
  }
  str(value, 'serverId', '');
  const pid = count(value, 'pid', '');
  if (pid === 0) fail('pid', 'must be a positive integer');
  count(value, 'seq', '');
  oneOf(value, 'status', WRITER_STATUSES);
  oneOf(value, 'reason', WRITE_REASONS);
  time(value, 'startedAt', '');
  time(value, 'writtenAt', '');
  time(value, 'lastUpdated', '');
  const hb = count(value, 'heartbeatMs', '');
  if (hb === 0) fail('heartbeatMs', 'must be a positive integer');
  if (value.mcp !== null) {
    if (!isObject(value.mcp)) fail('mcp', value.mcp === undefined ? 'is missing' : 'must be an object or null');
    str(value.mcp, 'url', 'mcp.');
    str(value.mcp, 'endpoint', 'mcp.');
    count(value.mcp, 'port', 'mcp.');
  }
  const active = count(value, 'activeConnections', '');
  const total = count(value, 'totalConnections', '');
  if (!Array.isArray(value.connections)) fail('connections', value.connections === undefined ? 'is missing' : 'must be an array');
  if (value.connections.length !== active) {
    fail('activeConnections', `is ${active} but connections has ${value.connections.length} entries`);
  }
  if (total < active) fail('totalConnections', `is ${total}, less than activeConnections ${active}`);
  value.connections = value.connections.map(validateConnection);
  if (value.sessionsClosed !== undefined) {
    if (!isObject(value.sessionsClosed)) fail('sessionsClosed', 'must be an object');
    const closed: Record<string, number> = {};
    for (const r of CLOSE_REASONS) closed[r] = value.sessionsClosed[r] === undefined ? 0 : count(value.sessionsClosed, r, 'sessionsClosed.');
    value.sessionsClosed = closed;
  }
  if (value.backend !== undefined) {
    if (!isObject(value.backend)) fail('backend', 'must be an object');
    oneOf(value.backend, 'kind', BACKEND_KINDS, 'backend.');
    nullableStr(value.backend, 'target', 'backend.');
    const up = value.backend.upstream;
    if (up !== undefined && up !== null) {
      if (!isObject(up)) fail('backend.upstream', 'must be an object or null');
      if (typeof up.reachable !== 'boolean') fail('backend.upstream.reachable', 'must be a boolean');
      nullableStr(up, 'error', 'backend.upstream.');
      time(up, 'since', 'backend.upstream.');
    }
  }
  if (value.operationBounds !== undefined) checked(() => validateOperationBounds(value.operationBounds));
  if (value.operations !== undefined) checked(() => validateOperations(value.operations, operationBoundsOf(value as { operationBounds?: number[] })));
  if (value.processes !== undefined) value.processes = checked(() => validateProcesses(value.processes));
  if (value.callsDropped !== undefined) count(value, 'callsDropped', '');
  if (value.sessionDurations !== undefined) checked(() => validateHistogram(value.sessionDurations, SESSION_DURATION_BOUNDS, 'sessionDurations'));
  if (value.catalog !== undefined) checked(() => validateCatalog(value.catalog));
  return value as unknown as Snapshot;
}

/** Parses the text of a snapshot file (one line of JSON) and validates it. */
export function parseSnapshot(text: string): Snapshot {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const what = text.trim() === '' ? 'is empty' : `is not JSON (${(err as Error).message})`;
    throw new SnapshotValidationError(`snapshot ${what}`, { cause: err });
  }
  return validateSnapshot(value);
}

/** Serializes a snapshot as the file holds it: one line of JSON and a newline. */
export function serializeSnapshot(snapshot: Snapshot): string {
  return `${JSON.stringify(snapshot)}\n`;
}

/** Milliseconds since the writer last wrote this snapshot. */
export function snapshotAgeMs(snapshot: Snapshot, now: number = Date.now()): number {
  return Math.max(0, now - Date.parse(snapshot.writtenAt));
}

/**
 * A writer that is up (`starting`, `running`, `stopping`) refreshes `writtenAt` every
 * `heartbeatMs`; older than {@link STALE_HEARTBEATS} heartbeats means it hung or died.
 * A `stopped` snapshot is final and never stale.
 */
export function isStale(snapshot: Snapshot, now: number = Date.now()): boolean {
  if (snapshot.status === 'stopped') return false;
  return snapshotAgeMs(snapshot, now) > STALE_HEARTBEATS * snapshot.heartbeatMs;
}

/**
 * True when `next` may replace `current` for a reader. Within one writer (same pid and
 * `startedAt`) only a higher seq does. A snapshot of another writer always does: writers of one
 * server id follow each other under the lock, so the file's order is the order of writers, and
 * their clocks say nothing about it (a clock stepped back must not hide a new writer).
 */
export function isNewer(next: Snapshot, current: Snapshot | undefined): boolean {
  if (!current || !sameWriter(next, current)) return true;
  return next.seq > current.seq;
}

/** Whether two snapshots come from the same writer process: same pid and same `startedAt`. */
export function sameWriter(a: Pick<Snapshot, 'pid' | 'startedAt'>, b: Pick<Snapshot, 'pid' | 'startedAt'>): boolean {
  return a.pid === b.pid && a.startedAt === b.startedAt;
}
