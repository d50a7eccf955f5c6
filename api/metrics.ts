/**
 * Prometheus metrics of the API (contract section 5), read from the {@link ServerCatalog} at
 * scrape time: nothing is counted twice and nothing drifts from what the REST routes say.
 * Every series is labelled `server_id` (and `reason` for closed sessions) only: never a
 * session id or an IP, which would be personal data and an unbounded number of series.
 *
 * The session counters come from the snapshot's own totals (`totalConnections`,
 * `sessionsClosed`), which the writer carries over across restarts of the child, so they do
 * not go back when a child restarts; they reset only when the state directory is wiped, which
 * Prometheus' `rate()` reads as a counter reset.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CLOSE_REASONS, snapshotAgeMs } from '../shared/snapshot.js';
import type { ServerCatalog, ServerView } from './server-catalog.js';

export interface MetricsOptions {
  catalog: ServerCatalog;
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
      help: 'MCP sessions open now, as of the latest snapshot.',
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const v of views()) if (v.snapshot) this.set({ server_id: v.serverId }, v.snapshot.activeConnections);
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
      help: 'MCP sessions closed since the first start of this server id, by reason (delete, close, idle, shutdown).',
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
      help: 'Seconds since the writer last wrote its snapshot (stale past 3 heartbeats while running).',
      labelNames,
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const v of views()) if (v.snapshot) this.set({ server_id: v.serverId }, snapshotAgeMs(v.snapshot, now) / 1000);
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
