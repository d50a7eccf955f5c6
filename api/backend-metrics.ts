/**
 * Metrics of what fronts the MCP server, per server id: whether a `--upstream`
 * server's upstream answers, and what the stdio processes of a `--command` server hold (their
 * count and memory, summed: a process per session, never a session id as a label). A leak of
 * per-session processes shows as a count that only grows.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ServerView } from './server-catalog.js';

/** Registers the backend gauges on `registry`, read from `views()` at scrape time. */
export function registerBackendMetrics(registry: Registry, views: () => ServerView[]): void {
  const registers = [registry];
  const labelNames = ['server_id'] as const;
  /** The rows of each `--command` server (every row there has its process). */
  const commandRows = () => views().flatMap((v) => (v.snapshot?.backend?.kind === 'command' ? [[v.serverId, v.snapshot.connections.filter((c) => c.process)] as const] : []));
  /** How many processes each `--command` server runs: its `processes` (those of ended sessions that have not exited too), else its rows. */
  const commandProcesses = () => views().flatMap((v) => (v.snapshot?.backend?.kind === 'command' ? [[v.serverId, v.snapshot.processes?.length ?? v.snapshot.connections.filter((c) => c.process).length] as const] : []));
  new Gauge({
    name: 'mcp_upstream_up',
    help: '1 when the upstream of a --upstream server answered its last request or probe, 0 when it could not be reached.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const v of views()) {
        const u = v.snapshot?.backend?.kind === 'upstream' ? v.snapshot.backend.upstream : undefined;
        if (u) this.set({ server_id: v.serverId }, u.reachable ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'mcp_session_processes',
    help: 'Stdio server processes of a --command server (one per session, and those of ended sessions not exited yet) running now.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const [serverId, n] of commandProcesses()) this.set({ server_id: serverId }, n);
    },
  });
  new Gauge({
    name: 'mcp_session_processes_resident_memory_bytes',
    help: 'Resident memory of the stdio server processes of a --command server (each process group), summed, as of the last heartbeat.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const [serverId, rows] of commandRows()) this.set({ server_id: serverId }, rows.reduce((sum, c) => sum + (c.process?.rssBytes ?? 0), 0));
    },
  });
}
