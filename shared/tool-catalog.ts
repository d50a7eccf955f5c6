/**
 * The server's tool catalog as the snapshot publishes it (`catalog`, docs/state-directory.md): the tools of
 * the last complete `tools/list` answer, each with the size of its definition (what it costs a
 * model's context). The writer builds it (server/operations/tool-catalog.ts); the API joins it
 * with `operations` (tool-usage.ts). Pure data and functions.
 */
import { isCount, isIsoTime, isObject } from './validate.js';

/** At most this many tools are kept; the rest of a longer list is counted in {@link Catalog.omitted}. */
export const MAX_CATALOG_TOOLS = 500;
/** Longest tool name kept (characters, after control characters are removed). */
export const TOOL_NAME_MAX = 128;

/** One tool of the catalog. */
export interface CatalogTool {
  /** Its name, cut to {@link TOOL_NAME_MAX} characters, without control characters. */
  name: string;
  /** UTF-8 bytes of the tool's object as `JSON.stringify` writes it (no whitespace). */
  bytes: number;
}

/** The snapshot's `catalog`. */
export interface Catalog {
  /** In the order the server listed them, at most {@link MAX_CATALOG_TOOLS}. */
  tools: CatalogTool[];
  /** The sum of `bytes` of `tools`. */
  totalBytes: number;
  /** When the listing was completed (its last page passed), ISO-8601 UTC. */
  seenAt: string;
  /**
   * Our addition (readers ignore it): tools the server listed past {@link MAX_CATALOG_TOOLS},
   * not in `tools` nor in `totalBytes`; absent when none were left out.
   */
  omitted?: number;
}

function fail(path: string, what: string): never {
  // The snapshot validator wraps this into its own error type.
  throw new TypeError(`${path} ${what}`);
}

/** Checks a `catalog` value (null allowed: no listing seen yet); throws a TypeError naming the field. */
export function validateCatalog(v: unknown): Catalog | null {
  if (v === null) return null;
  if (!isObject(v)) fail('catalog', 'must be an object or null');
  if (!Array.isArray(v.tools)) fail('catalog.tools', 'must be an array');
  if (v.tools.length > MAX_CATALOG_TOOLS) fail('catalog.tools', `has ${v.tools.length} entries, more than ${MAX_CATALOG_TOOLS}`);
  v.tools.forEach((t: unknown, i) => {
    const p = `catalog.tools[${i}]`;
    if (!isObject(t)) fail(p, 'must be an object');
    if (typeof t.name !== 'string' || t.name.length > TOOL_NAME_MAX) fail(`${p}.name`, `must be a string of at most ${TOOL_NAME_MAX} characters`);
    if (!isCount(t.bytes)) fail(`${p}.bytes`, 'must be a non-negative integer');
  });
  if (!isCount(v.totalBytes)) fail('catalog.totalBytes', 'must be a non-negative integer');
  if (!isIsoTime(v.seenAt)) fail('catalog.seenAt', `is not an ISO-8601 UTC time: ${JSON.stringify(v.seenAt)}`);
  if (v.omitted !== undefined && !isCount(v.omitted)) fail('catalog.omitted', 'must be a non-negative integer');
  return v as unknown as Catalog;
}

/**
 * The tools of a catalog with each name once, the first of a name kept: a hand-written file
 * could list a name twice, which would make two series of one label set in `/metrics` (an
 * exposition Prometheus rejects whole) and two rows of one tool.
 */
export function distinctTools(catalog: Catalog | null | undefined): CatalogTool[] {
  const seen = new Set<string>();
  const out: CatalogTool[] = [];
  for (const t of catalog?.tools ?? []) {
    if (seen.has(t.name)) continue;
    seen.add(t.name);
    out.push(t);
  }
  return out;
}
