/**
 * The snapshot schema `mcp-monitor/snapshot@1`: what the MCP child publishes in
 * `state/<serverId>/snapshot.json` and every reader (API, CLI) validates.
 * Pure data and functions: no I/O here.
 */
import { ISO_UTC, isCount, isObject } from './validate.js';

export const SNAPSHOT_SCHEMA = 'mcp-monitor/snapshot@1';

export const WRITER_STATUSES = ['starting', 'running', 'stopping', 'stopped'] as const;
export type WriterStatus = (typeof WRITER_STATUSES)[number];

export const WRITE_REASONS = ['startup', 'connect', 'disconnect', 'activity', 'heartbeat', 'shutdown'] as const;
export type WriteReason = (typeof WRITE_REASONS)[number];

/** Why a session ended (journal `disconnect` lines, metrics). */
export const CLOSE_REASONS = ['delete', 'close', 'idle', 'shutdown'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** A snapshot of a `running` writer older than this many heartbeats is stale. */
export const STALE_HEARTBEATS = 3;

export interface ClientInfo {
  name: string;
  version: string;
  [key: string]: unknown;
}

/** One MCP session as the child records it. */
export interface Connection {
  sessionId: string;
  clientIP: string;
  userAgent: string | null;
  connectedAt: string;
  lastActivity: string;
  requestCount: number;
  clientInfo: ClientInfo | null;
  protocolVersion: string | null;
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

function oneOf<T extends string>(o: Obj, key: string, allowed: readonly T[]): T {
  const v = str(o, key, '');
  if (!(allowed as readonly string[]).includes(v)) fail(key, `must be one of ${allowed.join('|')}, got ${JSON.stringify(v)}`);
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
  return {
    sessionId: str(v, 'sessionId', p),
    clientIP: str(v, 'clientIP', p),
    userAgent: nullableStr(v, 'userAgent', p),
    connectedAt: time(v, 'connectedAt', p, false),
    lastActivity: time(v, 'lastActivity', p, false),
    requestCount: count(v, 'requestCount', p),
    clientInfo,
    protocolVersion: nullableStr(v, 'protocolVersion', p),
  };
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
 * their clocks say nothing about it (a clock stepped back must not hide a new writer, H4).
 */
export function isNewer(next: Snapshot, current: Snapshot | undefined): boolean {
  if (!current || !sameWriter(next, current)) return true;
  return next.seq > current.seq;
}

/** Whether two snapshots come from the same writer process: same pid and same `startedAt`. */
export function sameWriter(a: Pick<Snapshot, 'pid' | 'startedAt'>, b: Pick<Snapshot, 'pid' | 'startedAt'>): boolean {
  return a.pid === b.pid && a.startedAt === b.startedAt;
}
