/**
 * `GET /metrics` against the real API and child: the text is parsed as the Prometheus text
 * exposition format (a strict little parser below) and its numbers checked against real
 * sessions, restarts and a hung child.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, startApi, type Api } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL_RE = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const SUFFIXES = ['_bucket', '_sum', '_count', '_created', '_total'];

/**
 * Parses the Prometheus text format 0.0.4: `# HELP`, `# TYPE`, then samples of that family.
 * Throws on anything malformed: an unknown line, a bad label set, a sample of no declared
 * family, a value that is not a float, a family declared twice, a duplicate series.
 */
function parsePrometheus(text: string): Map<string, Family> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, Family>();
  const series = new Set<string>();
  const typed = new Set<string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!new RegExp(`^${NAME}$`).test(name)) throw new Error(`bad metric name, ${where}`);
      const f = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type, ${where}`);
        if (f.samples.length || typed.has(name)) throw new Error(`TYPE after samples or twice, ${where}`);
        typed.add(name);
        f.type = rest;
      } else f.help = rest;
      families.set(name, f);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE_RE.exec(line);
    if (!m) throw new Error(`not a sample, ${where}`);
    const [, name, labelText = '', raw] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    LABEL_RE.lastIndex = 0;
    while (LABEL_RE.lastIndex < labelText.length) {
      const l = LABEL_RE.exec(labelText);
      if (!l) throw new Error(`bad labels, ${where}`);
      if (l[1]! in labels) throw new Error(`label twice, ${where}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      if (l[3] === '') break;
    }
    const value = raw === 'NaN' ? NaN : raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (raw !== 'NaN' && Number.isNaN(value)) throw new Error(`bad value, ${where}`);
    const family = [name, ...SUFFIXES.filter((x) => name.endsWith(x)).map((x) => name.slice(0, -x.length))].map((n) => families.get(n)).find(Boolean);
    if (!family) throw new Error(`sample of no declared family, ${where}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`duplicate series, ${where}`);
    series.add(key);
    family.samples.push({ name, labels, value });
  }
  return families;
}

async function scrape(api: Api, init?: RequestInit): Promise<{ text: string; families: Map<string, Family> }> {
  const res = await api.fetch('/metrics', init);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, families: parsePrometheus(text) };
}

/** The value of `name` with exactly these labels, or undefined. */
function value(families: Map<string, Family>, name: string, labels: Record<string, string>): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  for (const f of families.values()) for (const s of f.samples) if (s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want) return s.value;
  return undefined;
}

const MCP_METRICS = {
  mcp_sessions_active: 'gauge',
  mcp_sessions_created_total: 'counter',
  mcp_sessions_closed_total: 'counter',
  mcp_snapshot_age_seconds: 'gauge',
  mcp_child_up: 'gauge',
  mcp_child_restarts_total: 'counter',
};

describe('GET /metrics', () => {
  it('exposes the mcp_* metrics, labelled server_id only, and the process defaults', async () => {
    const api = await startApi();
    const { families } = await scrape(api);
    for (const [name, type] of Object.entries(MCP_METRICS)) {
      const f = families.get(name);
      expect(f, name).toBeDefined();
      expect(f!.type, name).toBe(type);
      expect(f!.help, name).not.toBe('');
    }
    const id = { server_id: 'default' };
    expect(value(families, 'mcp_sessions_active', id)).toBe(0);
    expect(value(families, 'mcp_sessions_created_total', id)).toBe(0);
    expect(value(families, 'mcp_child_up', id)).toBe(1);
    expect(value(families, 'mcp_child_restarts_total', id)).toBe(0);
    for (const reason of ['delete', 'close', 'idle', 'shutdown']) expect(value(families, 'mcp_sessions_closed_total', { ...id, reason })).toBe(0);
    const age = value(families, 'mcp_snapshot_age_seconds', id)!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(age)).toBe(true);
    // prom-client's process and Node.js defaults.
    expect(families.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(families.get('process_resident_memory_bytes')?.type).toBe('gauge');
    expect(families.get('nodejs_heap_size_used_bytes')?.type).toBe('gauge');
  });

  it('counts real sessions: active, created and closed by reason; no session id or IP anywhere', async () => {
    const api = await startApi();
    const url = await api.mcpUrl();
    const a = await connectClient(url, { name: 'm-a', userAgent: 'metrics-agent/1' });
    const b = await connectClient(url, { name: 'm-b' });
    const c = await connectClient(url, { name: 'm-c' });
    const id = { server_id: 'default' };
    await waitFor(async () => value((await scrape(api)).families, 'mcp_sessions_active', id) === 3, { what: '3 active sessions' });

    await a.terminate();
    await b.terminate();
    const { text, families } = await waitFor(async () => {
      const s = await scrape(api);
      return value(s.families, 'mcp_sessions_active', id) === 1 ? s : undefined;
    }, { what: 'two sessions to end' });
    expect(value(families, 'mcp_sessions_created_total', id)).toBe(3);
    expect(value(families, 'mcp_sessions_closed_total', { ...id, reason: 'delete' })).toBe(2);
    expect(value(families, 'mcp_sessions_closed_total', { ...id, reason: 'idle' })).toBe(0);
    // The same numbers as the REST view of the same sessions.
    const rest = (await api.json('/api/mcp/connections')).body;
    expect(rest).toMatchObject({ activeConnections: 1, totalConnections: 3 });
    expect(rest.connections[0].sessionId).toBe(c.sessionId);

    for (const f of families.values()) {
      if (!f.name.startsWith('mcp_')) continue;
      for (const s of f.samples) {
        const allowed = f.name === 'mcp_sessions_closed_total' ? ['reason', 'server_id'] : ['server_id'];
        expect(Object.keys(s.labels).sort(), s.name).toEqual(allowed);
      }
    }
    for (const session of [a, b, c]) expect(text).not.toContain(session.sessionId);
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain('metrics-agent');
  });

  it('keeps the session counters across a child restart, counts the restart and the child down meanwhile', async () => {
    const api = await startApi();
    const pid = await api.childPid();
    const url = await api.mcpUrl();
    const x = await connectClient(url, { name: 'before-crash' });
    await x.terminate();
    const id = { server_id: 'default' };
    await waitFor(async () => value((await scrape(api)).families, 'mcp_sessions_closed_total', { ...id, reason: 'delete' }) === 1, { what: 'the closed session' });

    process.kill(pid, 'SIGKILL');
    await waitFor(async () => value((await scrape(api)).families, 'mcp_child_up', id) === 0, { what: 'mcp_child_up 0 after the kill' });
    const { families } = await waitFor(async () => {
      const s = await scrape(api);
      return value(s.families, 'mcp_child_up', id) === 1 && value(s.families, 'mcp_child_restarts_total', id) === 1 ? s : undefined;
    }, { what: 'the restarted child up' });
    expect(await api.childPid()).not.toBe(pid);
    // Counters never go back for Prometheus: the new child carries the totals over.
    expect(value(families, 'mcp_sessions_created_total', id)).toBe(1);
    expect(value(families, 'mcp_sessions_closed_total', { ...id, reason: 'delete' })).toBe(1);
    expect(value(families, 'mcp_sessions_active', id)).toBe(0);
  });

  it('reports a hung child as down, with a growing snapshot age', async () => {
    const api = await startApi({ args: ['--heartbeat-ms', '200'] });
    const pid = await api.childPid();
    const id = { server_id: 'default' };
    process.kill(pid, 'SIGSTOP');
    try {
      const { families } = await waitFor(async () => {
        const s = await scrape(api);
        return value(s.families, 'mcp_child_up', id) === 0 ? s : undefined;
      }, { what: 'mcp_child_up 0 while hung' });
      // Stale means older than 3 heartbeats (0.6 s here).
      expect(value(families, 'mcp_snapshot_age_seconds', id)).toBeGreaterThan(0.6);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(async () => value((await scrape(api)).families, 'mcp_child_up', id) === 1, { what: 'up again' });
  });

  it('sits behind --token', async () => {
    const api = await startApi({ args: ['--token', 'm3trics'] });
    const res = await api.fetch('/metrics');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const { families } = await scrape(api, { headers: { Authorization: 'Bearer m3trics' } });
    expect(value(families, 'mcp_child_up', { server_id: 'default' })).toBe(1);
  });
});

describe('the test parser', () => {
  it('rejects what Prometheus would reject', () => {
    expect(() => parsePrometheus('# TYPE a gauge\na{x="1"} 1\n')).not.toThrow();
    expect(() => parsePrometheus('b 1\n')).toThrow(/no declared family/);
    expect(() => parsePrometheus('# TYPE a gauge\na{x=1} 1\n')).toThrow(/labels/);
    expect(() => parsePrometheus('# TYPE a gauge\na one\n')).toThrow(/bad value/);
    expect(() => parsePrometheus('# TYPE a gauge\na 1\na 2\n')).toThrow(/duplicate/);
    expect(() => parsePrometheus('# TYPE a gauge\n# TYPE a counter\n')).toThrow(/twice/);
  });
});
