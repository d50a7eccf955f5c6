/**
 * A Prometheus histogram whose buckets are read as they are from the snapshot (`operations`,
 * `sessionDurations`, see shared/operations.ts): the child keeps the cumulative counts, the API
 * only shows them. prom-client's `Histogram` can only `observe()` values, so this is a metric
 * object of its own that a prom-client `Registry` formats like any other: the registry writes the
 * `_bucket{le}`, `_sum` and `_count` lines and escapes the label values (`\`, `"`, newline), which
 * matters here because tool and prompt names come from clients.
 */
import type { Metric, Registry } from 'prom-client';

/** One labelled histogram, as the snapshot holds it. */
export interface HistogramSeries {
  labels: Record<string, string>;
  /** Cumulative counts for `bounds`: `buckets[i]` counts observations <= `bounds[i]`. */
  buckets: readonly number[];
  /** Every observation (the `+Inf` bucket). */
  count: number;
  sum: number;
}

export interface SnapshotHistogramOptions {
  name: string;
  help: string;
  /** Upper bounds of the buckets, seconds, ascending (the `le` labels but `+Inf`). */
  bounds: readonly number[];
  /** The series now: called at every scrape. */
  collect: () => Iterable<HistogramSeries>;
  registers: Registry[];
}

interface Value {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** A histogram metric filled from the snapshot at scrape time; nothing is kept in between. */
export class SnapshotHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  /** How prom-client's cluster aggregator would merge workers' values (unused here). */
  readonly aggregator = 'sum' as const;
  readonly #bounds: readonly number[];
  readonly #collect: () => Iterable<HistogramSeries>;

  constructor(options: SnapshotHistogramOptions) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = options.bounds;
    this.#collect = options.collect;
    // The registry reads metrics through get() and reset() only: this object has both. Its
    // type lists prom-client's own classes, hence the cast.
    for (const r of options.registers) r.registerMetric(this as unknown as Metric);
  }

  /** What the registry formats: `_bucket` per bound and `+Inf`, `_sum`, `_count` per series. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Value[] }> {
    const values: Value[] = [];
    for (const s of this.#collect()) {
      this.#bounds.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: s.buckets[i] ?? s.count }));
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Nothing to reset: every scrape reads the snapshot anew. */
  reset(): void {}
}
