/**
 * The tool catalog joined with what clients did with each tool (`GET …/tools`, docs/http-api.md, Tools):
 * a row per tool of the snapshot's `catalog`, with its `tools/call` entries of `operations`
 * summed (entries split by error type, or a name listed twice by a hand-written file, are one
 * tool). Pure.
 */
import { operationBoundsOf, quantile, type Operation } from './operations.js';
import type { Snapshot } from './snapshot.js';
import { distinctTools } from './tool-catalog.js';

/** One row of `GET …/tools`. */
export interface ToolUsage {
  name: string;
  /** Size of its definition (see shared/tool-catalog.ts). */
  bytes: number;
  /** `tools/call` requests of it since the first start of the server id. */
  calls: number;
  /** Those that failed on the server's side (docs/state-directory.md: errors, not the caller's faults). */
  errors: number;
  /** Median duration estimated from the histogram (shared/operations.ts `quantile`), ms; null when never called. */
  p50Ms: number | null;
  /** When its last call ended; null when never called, or when only a writer from before `lastCalledAt` recorded its calls. */
  lastCalledAt: string | null;
}

/** The rows of `snapshot`'s catalog, in its order; none without a catalog. */
export function toolUsage(snapshot: Pick<Snapshot, 'catalog' | 'operations' | 'operationBounds'>): ToolUsage[] {
  const bounds = operationBoundsOf(snapshot);
  const calls = new Map<string, Operation[]>();
  for (const op of snapshot.operations ?? []) {
    if (op.method !== 'tools/call' || op.name === null) continue;
    const list = calls.get(op.name);
    if (list) list.push(op);
    else calls.set(op.name, [op]);
  }
  return distinctTools(snapshot.catalog).map((t) => {
    let count = 0;
    let errors = 0;
    let last: string | null = null;
    let lastMs = -Infinity;
    const buckets = bounds.map(() => 0);
    for (const op of calls.get(t.name) ?? []) {
      count += op.count;
      errors += op.errors;
      op.durationSeconds.buckets.forEach((b, i) => (buckets[i] = (buckets[i] ?? 0) + b));
      // Compared as times: a hand-made file may leave out the milliseconds.
      const ms = op.lastCalledAt === undefined ? NaN : Date.parse(op.lastCalledAt);
      if (ms > lastMs) {
        lastMs = ms;
        last = op.lastCalledAt!;
      }
    }
    const p50 = quantile(bounds, buckets, count, 0.5);
    return { name: t.name, bytes: t.bytes, calls: count, errors, p50Ms: p50 === null ? null : p50 * 1000, lastCalledAt: last };
  });
}
