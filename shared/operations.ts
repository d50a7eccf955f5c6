/**
 * What clients asked for, as the snapshot publishes it (`operations`, `sessionDurations`):
 * cumulative histograms with fixed bounds, so that the API can turn them into
 * Prometheus histograms and the dashboard can estimate quantiles. Pure data and functions.
 */
import { isCount, isIsoTime, isObject } from './validate.js';

/**
 * Bounds (seconds) of an operation's duration histogram as writers write them (the snapshot's
 * `operationBounds`): those the OpenTelemetry MCP semantic conventions give
 * `mcp.server.operation.duration`; `count` is the +Inf bucket.
 */
export const OPERATION_BOUNDS: readonly number[] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

/** The bounds of a snapshot without `operationBounds` (writers from before the conventions' bounds). */
export const LEGACY_OPERATION_BOUNDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Most bounds a snapshot's `operationBounds` may list. */
export const MAX_OPERATION_BOUNDS = 64;

/** The bounds of a snapshot's `operations` buckets: its `operationBounds`, else the legacy ones. */
export function operationBoundsOf(snapshot: { operationBounds?: readonly number[] | undefined }): readonly number[] {
  return snapshot.operationBounds ?? LEGACY_OPERATION_BOUNDS;
}

/**
 * Cumulative `buckets` for the bounds `from` re-counted for the bounds `to` (docs/state-directory.md): the
 * observations of each old bucket go under the smallest new bound that is not below the old
 * bound (a count is never placed below its true bucket), or only into +Inf when every new
 * bound is below it. Bounds are ascending.
 */
export function remapBuckets(buckets: readonly number[], from: readonly number[], to: readonly number[]): number[] {
  const out = to.map(() => 0);
  let prev = 0;
  from.forEach((bound, i) => {
    const inBucket = (buckets[i] ?? prev) - prev;
    prev = buckets[i] ?? prev;
    const j = to.findIndex((b) => b >= bound);
    if (j >= 0) out[j]! += inBucket;
  });
  for (let j = 1; j < out.length; j += 1) out[j]! += out[j - 1]!;
  return out;
}

/** Bounds (seconds) of the session-duration histogram. */
export const SESSION_DURATION_BOUNDS: readonly number[] = [1, 10, 60, 300, 1800, 3600, 21600, 86400];

/** At most this many operation entries; further names of a method are counted under {@link OTHER_NAME}. */
export const MAX_OPERATIONS = 100;

/**
 * The `name` under which names the server does not know (and names past {@link MAX_OPERATIONS})
 * are counted, and the `method` of methods it does not know.
 */
export const OTHER_NAME = '_OTHER';

/** How older writers named that bucket, before it was `_OTHER`; read as {@link OTHER_NAME}. */
const LEGACY_OTHER_NAME = '_other';

/** A method or name as the snapshot spells it today: a carried-over `_other` is {@link OTHER_NAME}. */
export function canonicalName<T extends string | null>(s: T): T {
  return (s === LEGACY_OTHER_NAME ? OTHER_NAME : s) as T;
}

/**
 * The requests a client sends a server in the MCP specification (2025-11-25, and the modern
 * era's `server/discover` and `subscriptions/listen`): known methods, whatever the server answers.
 */
export const SPEC_METHODS: ReadonlySet<string> = new Set([
  'initialize', 'ping', 'server/discover', 'subscriptions/listen',
  'tools/list', 'tools/call', 'prompts/list', 'prompts/get',
  'resources/list', 'resources/templates/list', 'resources/read', 'resources/subscribe', 'resources/unsubscribe',
  'completion/complete', 'logging/setLevel',
  'tasks/get', 'tasks/list', 'tasks/result', 'tasks/cancel',
]);

/** Methods whose entries are kept per name (the tool or prompt). */
export const NAMED_METHODS: readonly string[] = ['tools/call', 'prompts/get'];

/**
 * JSON-RPC error codes that are the caller's fault (parse error, invalid request, method not
 * found, invalid params, resource not found): not counted as errors of the server.
 */
export const CALLER_FAULT_CODES: ReadonlySet<number> = new Set([-32700, -32600, -32601, -32602, -32002]);

/** Cumulative histogram: `buckets[i]` counts observations <= `bounds[i]`. */
export interface Histogram {
  sum: number;
  count: number;
  buckets: number[];
}

/** One method (and, for `tools/call` and `prompts/get`, one name). */
export interface Operation {
  method: string;
  /** Tool or prompt name for `tools/call` / `prompts/get` ({@link OTHER_NAME} for names the server does not know); null otherwise. */
  name: string | null;
  /**
   * What made these requests fail, as the OpenTelemetry MCP conventions' `error.type`: the
   * JSON-RPC error code as a string (`"-32603"`), `"tool_error"` for a `tools/call` result with
   * `isError: true`, `"_OTHER"` for a failure without a code (or past the table's cap); null for
   * a success and for the caller's faults. Absent in entries of writers from before it (read as
   * null; such an entry may count errors).
   */
  errorType?: string | null;
  count: number;
  /** `count` when `errorType` is set, else 0 (entries carried over from before `errorType` keep theirs). */
  errors: number;
  /** `sum` in seconds and cumulative `buckets` for the snapshot's bounds ({@link operationBoundsOf}); the +Inf bucket is `count`. */
  durationSeconds: { sum: number; buckets: number[] };
  /**
   * Our addition (readers ignore it): when the last request of a `tools/call` entry ended,
   * ISO-8601 UTC (the `lastCalledAt` of `GET …/tools`); absent on other entries and on entries
   * of writers from before it.
   */
  lastCalledAt?: string;
}

/** An empty histogram for `bounds`. */
export function emptyHistogram(bounds: readonly number[]): Histogram {
  return { sum: 0, count: 0, buckets: bounds.map(() => 0) };
}

/** Adds one observation `v` to a cumulative histogram in place. */
export function observe(h: { sum: number; buckets: number[] }, bounds: readonly number[], v: number): void {
  h.sum += v;
  for (let i = bounds.length - 1; i >= 0 && v <= bounds[i]!; i -= 1) h.buckets[i]! += 1;
}

/**
 * Estimates the `q` quantile (0..1) from a cumulative histogram by linear interpolation inside
 * the bucket, as Prometheus `histogram_quantile` does; `null` with no observations. Past the
 * last bound it answers the last bound.
 */
export function quantile(bounds: readonly number[], buckets: readonly number[], count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = q * count;
  let prevBound = 0;
  let prevCount = 0;
  for (let i = 0; i < bounds.length; i += 1) {
    const c = buckets[i]!;
    if (c >= rank) {
      const inBucket = c - prevCount;
      return inBucket === 0 ? bounds[i]! : prevBound + ((bounds[i]! - prevBound) * (rank - prevCount)) / inBucket;
    }
    prevBound = bounds[i]!;
    prevCount = c;
  }
  return bounds[bounds.length - 1]!;
}

function fail(path: string, what: string): never {
  // The snapshot validator wraps this into its own error type.
  throw new TypeError(`${path} ${what}`);
}

function num(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(path, 'must be a non-negative number');
  return v;
}

function buckets(v: unknown, n: number, path: string, max: number): number[] {
  if (!Array.isArray(v) || v.length !== n) fail(path, `must be an array of ${n} counts`);
  let prev = 0;
  for (let i = 0; i < n; i += 1) {
    const c = v[i];
    if (!isCount(c) || c < prev || c > max) fail(`${path}[${i}]`, 'must be a cumulative count');
    prev = c;
  }
  return v as number[];
}

/** Checks a `sessionDurations` value; throws a TypeError naming the field. */
export function validateHistogram(v: unknown, bounds: readonly number[], path: string): Histogram {
  if (!isObject(v)) fail(path, 'must be an object');
  if (!isCount(v.count)) fail(`${path}.count`, 'must be a non-negative integer');
  num(v.sum, `${path}.sum`);
  buckets(v.buckets, bounds.length, `${path}.buckets`, v.count);
  return v as unknown as Histogram;
}

/** Longest `errorType` accepted (a JSON-RPC code as a string is at most 17 characters). */
export const ERROR_TYPE_MAX = 32;

/** Checks an `operationBounds` value: 1-64 ascending positive finite numbers; throws a TypeError naming the field. */
export function validateOperationBounds(v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_OPERATION_BOUNDS) fail('operationBounds', `must be an array of 1-${MAX_OPERATION_BOUNDS} bounds`);
  v.forEach((b: unknown, i) => {
    if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0 || (i > 0 && b <= (v[i - 1] as number))) fail(`operationBounds[${i}]`, 'must be a positive number above the one before');
  });
  return v as number[];
}

/** Checks an `operations` value whose buckets are for `bounds`; throws a TypeError naming the field. */
export function validateOperations(v: unknown, bounds: readonly number[] = OPERATION_BOUNDS): Operation[] {
  if (!Array.isArray(v)) fail('operations', 'must be an array');
  if (v.length > MAX_OPERATIONS) fail('operations', `has ${v.length} entries, more than ${MAX_OPERATIONS}`);
  v.forEach((op: unknown, i) => {
    const p = `operations[${i}]`;
    if (!isObject(op)) fail(p, 'must be an object');
    if (typeof op.method !== 'string') fail(`${p}.method`, 'must be a string');
    if (op.name !== null && typeof op.name !== 'string') fail(`${p}.name`, 'must be a string or null');
    if (op.errorType !== undefined && op.errorType !== null && (typeof op.errorType !== 'string' || op.errorType.length === 0 || op.errorType.length > ERROR_TYPE_MAX)) fail(`${p}.errorType`, `must be null or a string of 1-${ERROR_TYPE_MAX} characters`);
    if (!isCount(op.count)) fail(`${p}.count`, 'must be a non-negative integer');
    if (!isCount(op.errors) || op.errors > op.count) fail(`${p}.errors`, 'must be a count no larger than count');
    if (!isObject(op.durationSeconds)) fail(`${p}.durationSeconds`, 'must be an object');
    num(op.durationSeconds.sum, `${p}.durationSeconds.sum`);
    buckets(op.durationSeconds.buckets, bounds.length, `${p}.durationSeconds.buckets`, op.count);
    if (op.lastCalledAt !== undefined && !isIsoTime(op.lastCalledAt)) fail(`${p}.lastCalledAt`, 'must be an ISO-8601 UTC time');
  });
  return v as Operation[];
}
