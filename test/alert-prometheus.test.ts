/**
 * The shipped alerting rules in a real Prometheus (Debian's), scraping a real API every second
 * with the README's prometheus.yml (bearer token from a file): every rule evaluates
 * without error and nothing fires while all is well; a hung child (SIGSTOP: its heartbeat
 * stops) makes McpSnapshotStale and McpServerDown fire for its server_id, and the alerts go
 * once it runs again (SIGCONT). The rules' `for:` are cut to 2 s in a copy; their expressions
 * are the shipped ones.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readAlertRules, RULES_FILE } from './helpers/alert-rules.js';
import { cleanup, ROOT, startApi } from './helpers/processes.js';
import { PrometheusServer } from './helpers/prometheus.js';
import { waitFor } from './helpers/wait-for.js';

const TOKEN = 'pr0metheus-scrape';
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
/** The test's Prometheus, closed after it. */
let prometheus: PrometheusServer;
/** The child while it is stopped, to continue it whatever happens. */
let stoppedPid: number | undefined;

afterEach(async () => {
  // A stopped child handles no SIGTERM: continue it first, so that cleanup ends it cleanly.
  if (stoppedPid !== undefined) process.kill(stoppedPid, 'SIGCONT');
  stoppedPid = undefined;
  await prometheus?.close();
  await cleanup();
});

interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

async function alerts(): Promise<Alert[]> {
  return (await prometheus.api<{ alerts: Alert[] }>('alerts')).alerts;
}

/** The shipped rules with every `for:` cut to `to`. */
async function rulesWithFor(to: string): Promise<string> {
  const text = await readFile(RULES_FILE, 'utf8');
  let n = 0;
  const cut = text.replace(/^(\s*for:\s*)\S+\s*$/gm, (_, key: string) => {
    n++;
    return `${key}${to}`;
  });
  // Every rule with a `for` got the short one.
  expect(n).toBe(readAlertRules(text).filter((r) => r.for !== undefined).length);
  expect(n).toBeGreaterThan(0);
  return cut;
}

/** The README's prometheus.yml (its "Alerting" section), each key of `replace` replaced once. */
function readmeConfig(replace: Record<string, string>): string {
  const section = README.slice(README.indexOf('\n## Alerting\n'));
  const block = /```yaml\n([^]*?)```/.exec(section.slice(0, section.indexOf('\n## ', 1)));
  expect(block, 'a yaml block in the README\'s Alerting section').not.toBeNull();
  let text = block![1]!;
  for (const [from, to] of Object.entries(replace)) {
    expect(text.split(from).length, `${from} once in the README's prometheus.yml`).toBe(2);
    text = text.replace(from, to);
  }
  return text;
}

describe('the alerting rules in a real Prometheus', () => {
  it('fire McpSnapshotStale (and McpServerDown) for a hung child, and resolve when it runs again', async () => {
    const api = await startApi({ args: ['--token', TOKEN] });
    const pid = await api.childPid();
    const target = new URL(api.url).host;
    prometheus = new PrometheusServer();
    await prometheus.start({
      files: { 'mcp-monitor.token': TOKEN, 'mcp-monitor.rules.yml': await rulesWithFor('2s') },
      // The README's prometheus.yml, its paths and target put here, and scraped every second.
      config: (dir) => `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n${readmeConfig({
        '/etc/prometheus/mcp-monitor.rules.yml': JSON.stringify(path.join(dir, 'mcp-monitor.rules.yml')),
        '/etc/prometheus/mcp-monitor.token': JSON.stringify(path.join(dir, 'mcp-monitor.token')),
        "'127.0.0.1:3001'": JSON.stringify(target),
      })}`,
    });

    // Scraped with the token, and every rule evaluated without error on the real series.
    await waitFor(async () => {
      const { activeTargets } = await prometheus.api<{ activeTargets: { health: string; lastError: string; labels: Record<string, string> }[] }>('targets');
      const t = activeTargets.find((x) => x.labels.job === 'mcp-monitor');
      if (t?.lastError) throw new Error(t.lastError);
      return t?.health === 'up';
    }, { timeout: 15_000, what: 'the API scraped' });
    const rules = await waitFor(async () => {
      const { groups } = await prometheus.api<{ groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] }>('rules');
      const g = groups.find((x) => x.name === 'mcp-monitor');
      const failing = g?.rules.find((r) => r.health === 'err');
      if (failing) throw new Error(`${failing.name}: ${failing.lastError}`);
      return g && g.rules.length > 0 && g.rules.every((r) => r.health === 'ok') ? g.rules : undefined;
    }, { timeout: 15_000, what: 'every rule evaluated' });
    expect(rules.map((r) => r.name)).toEqual(readAlertRules(await readFile(RULES_FILE, 'utf8')).map((r) => r.alert));
    // All is well: nothing pending, nothing firing.
    expect(await alerts()).toEqual([]);

    process.kill(pid, 'SIGSTOP');
    stoppedPid = pid;
    const firing = await waitFor(async () => {
      const all = await alerts();
      return all.some((a) => a.labels.alertname === 'McpSnapshotStale' && a.state === 'firing') ? all : undefined;
    }, { timeout: 30_000, interval: 250, what: 'McpSnapshotStale firing' });
    const labels = { job: 'mcp-monitor', instance: target, server_id: 'default' };
    const stale = firing.find((a) => a.labels.alertname === 'McpSnapshotStale')!;
    expect(stale.labels).toEqual({ alertname: 'McpSnapshotStale', severity: 'warning', ...labels });
    expect(stale.annotations.summary).toBe(`MCP server default on ${target} stopped writing its snapshot`);
    // Hung longer than the 10 s of the threshold: the writer went stale well before.
    const down = firing.find((a) => a.labels.alertname === 'McpServerDown');
    expect(down?.labels).toEqual({ alertname: 'McpServerDown', severity: 'critical', ...labels });
    expect(down?.state).toBe('firing');

    process.kill(pid, 'SIGCONT');
    stoppedPid = undefined;
    // Resolved alerts leave /api/v1/alerts, which lists pending and firing ones.
    await waitFor(async () => (await alerts()).length === 0, { timeout: 15_000, interval: 250, what: 'the alerts resolved' });
    expect(await api.childPid()).toBe(pid);
  }, 60_000);
});
