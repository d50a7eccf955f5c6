/**
 * Prometheus metrics of the API (`GET /metrics`), read from the {@link ServerCatalog} at
 * scrape time: nothing is counted twice and nothing drifts from what the REST routes say.
 * Every series is labelled `server_id` (and `reason` for closed sessions) only: never a
 * session id or an IP, which would be personal data and an unbounded number of series.
 *
 * The session counters come from the snapshot's own totals (`totalConnections`,
 * `sessionsClosed`), which the writer carries over across restarts of the child, so they do
 * not go back when a child restarts; they reset only when the state directory is wiped, which
 * Prometheus' `rate()` reads as a counter reset.
 *
 * What clients asked for comes from the snapshot's `operations` and
 * `sessionDurations`, cumulative histograms kept by the child (the API never sees a request):
 * `mcp_server_operation_duration_seconds` and `mcp_server_session_duration_seconds` after the
 * OpenTelemetry MCP semantic conventions, labelled by method and tool or prompt name. The
 * definition sizes of the tools come from the snapshot's `catalog` (gauges: the conventions
 * define none).
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { OPERATION_BOUNDS, SESSION_DURATION_BOUNDS, canonicalName, operationBoundsOf, remapBuckets, type Operation } from '../shared/operations.js';
import { countByEra } from '../shared/eras.js';
import { CLOSE_REASONS, ERAS, snapshotAgeMs, type Snapshot } from '../shared/snapshot.js';
import { distinctTools } from '../shared/tool-catalog.js';
import type { ServerCatalog, ServerView } from './server-catalog.js';
import { registerBackendMetrics } from './backend-metrics.js';
import { SnapshotHistogram, type HistogramSeries } from './snapshot-histogram.js';

export interface MetricsOptions {
  catalog: ServerCatalog;
  /**
   * The `--max-sessions` of each server this API spawns, by server id: `mcp_sessions_max`. A
   * server found in the state directory has none (its cap is not in its snapshot).
   */
  sessionCaps?: ReadonlyMap<string, number>;
  /** Also expose prom-client's process and Node.js metrics (`process_*`, `nodejs_*`). Default true. */
  defaultMetrics?: boolean;
}

/** 1 when the server's writer is running with a fresh snapshot (what `/readyz` calls ready). */
export function childUp(view: ServerView): boolean {
  const { snapshot, supervisor } = view;
  return snapshot?.status === 'running' && !view.stale && (!supervisor || supervisor.state === 'running');
}

/** The API's metrics: a registry of its own, every value read from the catalog at scrape time. */
export class Metrics {
  /** A registry of its own: never prom-client's global one, which other code may fill. */
  readonly registry = new Registry();
  readonly #catalog: ServerCatalog;

  constructor(options: MetricsOptions) {
    this.#catalog = options.catalog;
    const views = () => this.#views();
    const registers = [this.registry];
    const labelNames = ['server_id'] as const;

    new Gauge({
      name: 'mcp_sessions_active',
      help: 'MCP connections open now (legacy sessions and modern clients), as of the latest snapshot.',
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const v of views()) if (v.snapshot) this.set({ server_id: v.serverId }, v.snapshot.activeConnections);
      },
    });
    const caps = options.sessionCaps ?? new Map<string, number>();
    new Gauge({
      name: 'mcp_sessions_max',
      help: 'The cap of the MCP server (--max-sessions): legacy sessions held at once, and modern clients listed at once, each (servers this API spawns).',
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [serverId, max] of caps) this.set({ server_id: serverId }, max);
      },
    });
    new Gauge({
      name: 'mcp_clients_active',
      help: 'MCP clients connected now by protocol era: legacy sessions, and modern (sessionless) clients seen within the client window.',
      labelNames: ['server_id', 'era'] as const,
      registers,
      collect() {
        this.reset();
        for (const v of views()) {
          if (!v.snapshot) continue;
          const n = countByEra(v.snapshot.connections);
          for (const era of ERAS) this.set({ server_id: v.serverId, era }, n[era]);
        }
      },
    });
    new Counter({
      name: 'mcp_sessions_created_total',
      help: 'MCP sessions created since the first start of this server id (survives restarts).',
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const v of views()) if (v.snapshot) this.inc({ server_id: v.serverId }, v.snapshot.totalConnections);
      },
    });
    new Counter({
      name: 'mcp_sessions_closed_total',
      help: 'MCP sessions closed since the first start of this server id, by reason (delete, close, idle, shutdown, terminated, process-exit, upstream).',
      labelNames: ['server_id', 'reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const v of views()) {
          // An older writer publishes no sessionsClosed: no series, rather than a false zero.
          const closed = v.snapshot?.sessionsClosed;
          if (!closed) continue;
          for (const reason of CLOSE_REASONS) this.inc({ server_id: v.serverId, reason }, closed[reason]);
        }
      },
    });
    new Gauge({
      name: 'mcp_snapshot_age_seconds',
      help: 'Seconds since the writer last wrote its snapshot (stale past 3 heartbeats); none for a writer that stopped cleanly.',
      labelNames,
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        // A writer that stopped cleanly writes no more: its age would only grow, and an alert on
        // it (alerts/mcp-monitor.rules.yml) would fire for every server that ended as it should.
        for (const v of views()) if (v.snapshot && v.snapshot.status !== 'stopped') this.set({ server_id: v.serverId }, snapshotAgeMs(v.snapshot, now) / 1000);
      },
    });
    new Gauge({
      name: 'mcp_child_up',
      help: '1 when the MCP server is running with a fresh snapshot, 0 when it is down, starting, stopped or stale.',
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const v of views()) this.set({ server_id: v.serverId }, childUp(v) ? 1 : 0);
      },
    });
    new Counter({
      name: 'mcp_child_restarts_total',
      help: 'Restarts of the MCP child by this API process (only for children it spawned).',
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const v of views()) if (v.supervisor) this.inc({ server_id: v.serverId }, v.supervisor.restarts);
      },
    });

    registerBackendMetrics(this.registry, views);

    const opLabels = ['server_id', 'mcp_method_name', 'gen_ai_tool_name', 'gen_ai_prompt_name'] as const;
    new SnapshotHistogram({
      name: 'mcp_server_operation_duration_seconds',
      help: 'Duration of the JSON-RPC requests the MCP server served, from arrival to final response, by method, tool or prompt name and error type (empty for a success or a caller fault), since the first start of this server id.',
      bounds: OPERATION_BOUNDS,
      registers,
      *collect() {
        for (const v of views()) for (const op of operationsOf(v.snapshot, true)) yield { labels: { ...operationLabels(v.serverId, op), error_type: op.errorType ?? '' }, buckets: op.durationSeconds.buckets, count: op.count, sum: op.durationSeconds.sum };
      },
    });
    new Counter({
      name: 'mcp_server_operation_errors_total',
      help: 'JSON-RPC requests that failed on the server side (errors but the caller\'s faults, and tool results with isError), by method and tool or prompt name.',
      labelNames: opLabels,
      registers,
      collect() {
        this.reset();
        for (const v of views()) for (const op of operationsOf(v.snapshot, false)) this.inc(operationLabels(v.serverId, op), op.errors);
      },
    });
    new SnapshotHistogram({
      name: 'mcp_server_session_duration_seconds',
      help: 'Duration of ended connections of both eras (a modern client: first to last request), since the first start of this server id.',
      bounds: SESSION_DURATION_BOUNDS,
      registers,
      *collect(): Generator<HistogramSeries> {
        for (const v of views()) {
          const d = v.snapshot?.sessionDurations;
          if (d) yield { labels: { server_id: v.serverId }, buckets: d.buckets, count: d.count, sum: d.sum };
        }
      },
    });

    new Gauge({
      name: 'mcp_tool_definition_bytes',
      help: "UTF-8 bytes of each tool's definition as the server's last complete tools/list showed it (what it costs a model's context).",
      labelNames: ['server_id', 'gen_ai_tool_name'] as const,
      registers,
      collect() {
        this.reset();
        // One series per name, even from a hand-written file that lists a name twice.
        for (const v of views()) for (const t of distinctTools(v.snapshot?.catalog)) this.set({ server_id: v.serverId, gen_ai_tool_name: t.name }, t.bytes);
      },
    });
    new Gauge({
      name: 'mcp_tools_definition_bytes_total',
      help: "UTF-8 bytes of all the tool definitions of the server's last complete tools/list.",
      labelNames,
      registers,
      collect() {
        this.reset();
        // No series until the server listed its tools, rather than a false zero.
        for (const v of views()) {
          const c = v.snapshot?.catalog;
          if (c) this.set({ server_id: v.serverId }, c.totalBytes);
        }
      },
    });

    new Counter({
      name: 'mcp_calls_dropped_total',
      help: 'Lines of the calls journal (calls.jsonl) the running writer process could not write (a full queue, a failing disk); starts from 0 with each writer process, as a counter reset.',
      labelNames,
      registers,
      collect() {
        this.reset();
        // A writer from before the calls journal publishes none: no series rather than a false zero.
        for (const v of views()) {
          const dropped = v.snapshot?.callsDropped;
          if (dropped !== undefined) this.inc({ server_id: v.serverId }, dropped);
        }
      },
    });

    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The `Content-Type` of {@link metrics}' text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric, read now. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  #views(): ServerView[] {
    const now = Date.now();
    return this.#catalog.ids().flatMap((id) => this.#catalog.view(id, now) ?? []);
  }
}

type OperationLabels = Record<'server_id' | 'mcp_method_name' | 'gen_ai_tool_name' | 'gen_ai_prompt_name', string>;

function operationLabels(serverId: string, op: Operation): OperationLabels {
  // An older writer's `_other` is today's `_OTHER` (summed with it by operationsOf).
  const name = canonicalName(op.name) ?? '';
  return {
    server_id: serverId,
    mcp_method_name: canonicalName(op.method),
    gen_ai_tool_name: op.method === 'tools/call' ? name : '',
    gen_ai_prompt_name: op.method === 'prompts/get' ? name : '',
  };
}

/**
 * The snapshot's operations, one per label set (with `error_type` when `byErrorType`), their
 * buckets re-counted for OPERATION_BOUNDS when an older writer used other bounds (so that every
 * server's series have the same `le`): entries of one label set are summed (the errors counter
 * has no `error_type`; a hand-written file could list one twice), since two series of one label
 * set make an exposition Prometheus rejects whole.
 */
function operationsOf(snapshot: Snapshot | undefined, byErrorType: boolean): Operation[] {
  const byKey = new Map<string, Operation>();
  const bounds = snapshot ? operationBoundsOf(snapshot) : OPERATION_BOUNDS;
  for (const entry of snapshot?.operations ?? []) {
    const op = { ...entry, durationSeconds: { sum: entry.durationSeconds.sum, buckets: remapBuckets(entry.durationSeconds.buckets, bounds, OPERATION_BOUNDS) } };
    const labels = operationLabels('', op);
    const key = JSON.stringify([labels.mcp_method_name, labels.gen_ai_tool_name, labels.gen_ai_prompt_name, byErrorType ? (op.errorType ?? '') : '']);
    const seen = byKey.get(key);
    if (!seen) {
      byKey.set(key, op);
      continue;
    }
    byKey.set(key, {
      ...seen,
      count: seen.count + op.count,
      errors: seen.errors + op.errors,
      durationSeconds: { sum: seen.durationSeconds.sum + op.durationSeconds.sum, buckets: seen.durationSeconds.buckets.map((b, i) => b + (op.durationSeconds.buckets[i] ?? 0)) },
    });
  }
  return [...byKey.values()];
}
