/**
 * The alerting rules of alerts/mcp-monitor.rules.yml: valid for `promtool check rules`, right
 * for their unit tests under `promtool test rules` (test/alert-rules/mcp-monitor.test.yml), and
 * about metrics that exist: every metric, label and label value a rule selects on is in the
 * `/metrics` of a real API running a real child (a rule on a misspelt name never fires).
 * Without promtool these tests fail, naming what to install.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readAlertRules, RULES_FILE, selectorsOf } from './helpers/alert-rules.js';
import { startEverythingHttp, stopEverythingHttp } from './helpers/everything-http.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, ROOT, startApi } from './helpers/processes.js';
import { parsePrometheus, type Sample } from './helpers/prometheus-text.js';
import { runPromtool } from './helpers/prometheus.js';
import { waitFor } from './helpers/wait-for.js';

const RULES_TESTS = path.join(ROOT, 'test', 'alert-rules', 'mcp-monitor.test.yml');

afterEach(async () => {
  await closeClients();
  await cleanup();
  await stopEverythingHttp();
});

describe('alerts/mcp-monitor.rules.yml', () => {
  it('passes promtool check rules (with its lint), and the file reader finds the rules promtool finds', async () => {
    const r = await runPromtool(['check', 'rules', '--lint=all', '--lint-fatal', RULES_FILE], ROOT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const rules = readAlertRules(await readFile(RULES_FILE, 'utf8'));
    expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(rules.map((x) => x.alert)).toEqual(['McpServerDown', 'McpSnapshotStale', 'McpUpstreamDown', 'McpToolErrorRatioHigh', 'McpSessionsNearCap', 'McpServerRestartLoop', 'McpMonitorUnreachable']);
    for (const rule of rules) expect(rule.expr, rule.alert).not.toBe('');
  });

  it('passes its promtool unit tests, which test every alert', async () => {
    const r = await runPromtool(['test', 'rules', RULES_TESTS], ROOT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
    const tested = new Set([...(await readFile(RULES_TESTS, 'utf8')).matchAll(/^\s*alertname:\s*(\S+)\s*$/gm)].map((m) => m[1]));
    const rules = readAlertRules(await readFile(RULES_FILE, 'utf8'));
    for (const rule of rules) expect(tested.has(rule.alert), `a unit test of ${rule.alert}`).toBe(true);
  });

  it('selects only metrics, labels and label values that a real /metrics has (besides Prometheus\' own up)', async () => {
    // --upstream so that mcp_upstream_up exists; a spawned child so that mcp_sessions_max does;
    // a tools/call through it so that the operation series do.
    const upstream = await startEverythingHttp();
    const api = await startApi({ args: ['--upstream', upstream.url] });
    const c = await connectClient(await api.mcpUrl(), { name: 'alert-rules' });
    await c.client.listTools();
    await c.client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    const samples = await waitFor(async () => {
      const res = await api.fetch('/metrics');
      const all = [...parsePrometheus(await res.text()).values()].flatMap((f) => f.samples);
      return all.some((s) => s.name === 'mcp_server_operation_duration_seconds_count' && s.labels.mcp_method_name === 'tools/call') ? all : undefined;
    }, { timeout: 15_000, what: 'the tools/call in /metrics' });
    const byName = new Map<string, Sample[]>();
    for (const s of samples) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);

    const rules = readAlertRules(await readFile(RULES_FILE, 'utf8'));
    const used = new Set<string>();
    for (const rule of rules) {
      const { selectors, grouping } = selectorsOf(rule.expr);
      expect(selectors.length, `${rule.alert}: selectors of ${rule.expr}`).toBeGreaterThan(0);
      const ruleSamples: Sample[] = [];
      for (const sel of selectors) {
        used.add(sel.name);
        // up is Prometheus' own, per scrape target.
        if (sel.name === 'up') continue;
        const series = byName.get(sel.name) ?? [];
        expect(series.length, `${rule.alert}: ${sel.name} in /metrics`).toBeGreaterThan(0);
        ruleSamples.push(...series);
        for (const m of sel.matchers) {
          const what = `${rule.alert}: ${sel.name}{${m.label}${m.op}"${m.value}"}`;
          if (m.op === '=') expect(series.some((s) => s.labels[m.label] === m.value), what).toBe(true);
          else expect(series.some((s) => m.label in s.labels), what).toBe(true);
        }
      }
      // job and instance come from the scrape, not from /metrics.
      for (const label of grouping.filter((l) => l !== 'job' && l !== 'instance')) {
        expect(ruleSamples.some((s) => label in s.labels), `${rule.alert}: label ${label} in /metrics`).toBe(true);
      }
    }
    // The reader of expressions found every metric the rules name (a check of the reader itself).
    expect([...used].sort()).toEqual([
      'mcp_child_restarts_total', 'mcp_child_up', 'mcp_clients_active', 'mcp_server_operation_duration_seconds_count',
      'mcp_server_operation_errors_total', 'mcp_sessions_max', 'mcp_snapshot_age_seconds', 'mcp_upstream_up', 'up',
    ]);
  });
});

describe('the readers of rules and expressions', () => {
  it('read one-line and block expressions, selectors, matchers and grouping labels', () => {
    const rules = readAlertRules('groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x{a="1"} > 0\n        for: 1m\n      - alert: B\n        expr: |\n          sum by (p) (rate(y_total{b!="",c="2"}[5m]))\n            / on (p, q) group_left z\n        labels:\n          severity: warning\n');
    expect(rules).toEqual([
      { alert: 'A', expr: 'x{a="1"} > 0', for: '1m' },
      { alert: 'B', expr: 'sum by (p) (rate(y_total{b!="",c="2"}[5m]))\n/ on (p, q) group_left z', for: undefined },
    ]);
    expect(selectorsOf(rules[1]!.expr)).toEqual({
      selectors: [
        { name: 'y_total', matchers: [{ label: 'b', op: '!=', value: '' }, { label: 'c', op: '=', value: '2' }] },
        { name: 'z', matchers: [] },
      ],
      grouping: ['p', 'p', 'q'],
    });
    expect(selectorsOf('sum without (error_type) (a) > 0.05 and b offset 5m unless c').selectors.map((s) => s.name)).toEqual(['a', 'b', 'c']);
  });
});
