// The tool catalog joined with what clients did with each tool: a row per tool of a snapshot's
// `catalog`, with its `tools/call` entries of `operations` summed. A port of `toolUsage()` of
// shared/tool-usage.ts (and `distinctTools()` of shared/tool-catalog.ts): the same rows as
// GET …/tools (test/dashboard-tools.test.ts compares them). No DOM here.
import { boundsOf, quantile } from './operations.js';

/**
 * The tools of a catalog with each name once, the first of a name kept (a hand-written file
 * could list a name twice).
 */
export function distinctTools(catalog) {
  const seen = new Set();
  const out = [];
  for (const t of (catalog && catalog.tools) || []) {
    if (seen.has(t.name)) continue;
    seen.add(t.name);
    out.push(t);
  }
  return out;
}

/**
 * The rows `{name, bytes, calls, errors, p50Ms, lastCalledAt}` of `snapshot`'s catalog, in its
 * order; none without a catalog.
 */
export function toolUsage(snapshot) {
  const bounds = boundsOf(snapshot);
  const calls = new Map();
  for (const op of snapshot.operations || []) {
    if (op.method !== 'tools/call' || op.name === null) continue;
    const list = calls.get(op.name);
    if (list) list.push(op);
    else calls.set(op.name, [op]);
  }
  return distinctTools(snapshot.catalog).map((t) => {
    let count = 0;
    let errors = 0;
    let last = null;
    let lastMs = -Infinity;
    const buckets = bounds.map(() => 0);
    for (const op of calls.get(t.name) || []) {
      count += op.count;
      errors += op.errors;
      op.durationSeconds.buckets.forEach((b, i) => (buckets[i] = (buckets[i] ?? 0) + b));
      // Compared as times: a hand-made file may leave out the milliseconds.
      const ms = op.lastCalledAt === undefined ? NaN : Date.parse(op.lastCalledAt);
      if (ms > lastMs) {
        lastMs = ms;
        last = op.lastCalledAt;
      }
    }
    const p50 = quantile(bounds, buckets, count, 0.5);
    return { name: t.name, bytes: t.bytes, calls: count, errors, p50Ms: p50 === null ? null : p50 * 1000, lastCalledAt: last };
  });
}
