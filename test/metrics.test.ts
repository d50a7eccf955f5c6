/**
 * `GET /metrics` against the real API and child: the text is parsed as the Prometheus text
 * exposition format (the strict parser of helpers/prometheus-text.ts) and its numbers checked
 * against real sessions, restarts and a hung child.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, startApi, type Api } from './helpers/processes.js';
import { readSnap } from './helpers/server-process.js';
import { connectionOf, operationOf, sessionDurationsOf, writeSnapshot } from './helpers/snapshot-files.js';
import { LEGACY_OPERATION_BOUNDS, OPERATION_BOUNDS, SESSION_DURATION_BOUNDS } from '../shared/operations.js';
import { parsePrometheus, type Family } from './helpers/prometheus-text.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

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
  mcp_sessions_max: 'gauge',
  mcp_sessions_created_total: 'counter',
  mcp_sessions_closed_total: 'counter',
  mcp_snapshot_age_seconds: 'gauge',
  mcp_child_up: 'gauge',
  mcp_child_restarts_total: 'counter',
  mcp_clients_active: 'gauge',
  mcp_server_operation_duration_seconds: 'histogram',
  mcp_server_operation_errors_total: 'counter',
  mcp_server_session_duration_seconds: 'histogram',
};

/** The labels each mcp_* series may carry (never a session id or an IP). */
const ALLOWED_LABELS: Record<string, string[]> = {
  mcp_sessions_closed_total: ['reason', 'server_id'],
  mcp_clients_active: ['era', 'server_id'],
  // `error_type` on the duration histogram only, as the conventions put it (empty: no error).
  mcp_server_operation_duration_seconds_bucket: ['error_type', 'gen_ai_prompt_name', 'gen_ai_tool_name', 'le', 'mcp_method_name', 'server_id'],
  mcp_server_operation_duration_seconds_sum: ['error_type', 'gen_ai_prompt_name', 'gen_ai_tool_name', 'mcp_method_name', 'server_id'],
  mcp_server_operation_duration_seconds_count: ['error_type', 'gen_ai_prompt_name', 'gen_ai_tool_name', 'mcp_method_name', 'server_id'],
  mcp_server_operation_errors_total: ['gen_ai_prompt_name', 'gen_ai_tool_name', 'mcp_method_name', 'server_id'],
  mcp_server_session_duration_seconds_bucket: ['le', 'server_id'],
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

    // The child timed the two ended sessions: the histogram is the snapshot's, as the file has it.
    const durations = await waitFor(async () => {
      const d = (await readSnap(api.stateDir)).sessionDurations;
      return d?.count === 2 ? d : undefined;
    }, { what: 'two session durations in the snapshot' });
    const timed = await waitFor(async () => {
      const f = (await scrape(api)).families;
      return value(f, 'mcp_server_session_duration_seconds_count', id) === 2 ? f : undefined;
    }, { what: 'two session durations in /metrics' });
    SESSION_DURATION_BOUNDS.forEach((le, i) => expect(value(timed, 'mcp_server_session_duration_seconds_bucket', { ...id, le: String(le) }), `le ${le}`).toBe(durations.buckets[i]));
    expect(value(timed, 'mcp_server_session_duration_seconds_bucket', { ...id, le: '+Inf' })).toBe(2);
    expect(value(timed, 'mcp_server_session_duration_seconds_sum', id)).toBeCloseTo(durations.sum, 9);
    // Legacy sessions (the v1 SDK client) count in both views.
    expect(value(families, 'mcp_clients_active', { ...id, era: 'legacy' })).toBe(1);
    expect(value(families, 'mcp_clients_active', { ...id, era: 'modern' })).toBe(0);
    for (const f of families.values()) {
      if (!f.name.startsWith('mcp_')) continue;
      for (const s of f.samples) expect(Object.keys(s.labels).sort(), s.name).toEqual(ALLOWED_LABELS[s.name] ?? ['server_id']);
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
      // Stale means older than 3 heartbeats (0.6 s here); the gauge has millisecond precision.
      expect(value(families, 'mcp_snapshot_age_seconds', id)).toBeGreaterThanOrEqual(0.6);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(async () => value((await scrape(api)).families, 'mcp_child_up', id) === 1, { what: 'up again' });
  });

  it('shows the cap of a spawned server, none for an external one, and no snapshot age for a writer that stopped cleanly', async () => {
    const api = await startApi({ args: ['--max-sessions', '7'] });
    await writeSnapshot(api.stateDir, 'ext-running', { connections: [] });
    await writeSnapshot(api.stateDir, 'ext-stopped', { connections: [], status: 'stopped', mcp: null, writtenAt: new Date(Date.now() - 3_600_000).toISOString() });
    const { families } = await waitFor(async () => {
      const s = await scrape(api);
      return value(s.families, 'mcp_child_up', { server_id: 'ext-stopped' }) !== undefined && value(s.families, 'mcp_child_up', { server_id: 'ext-running' }) !== undefined ? s : undefined;
    }, { what: 'both external servers in /metrics' });
    expect(families.get('mcp_sessions_max')?.type).toBe('gauge');
    expect(value(families, 'mcp_sessions_max', { server_id: 'default' })).toBe(7);
    // The cap of a server this API did not start is not in its snapshot: no series, not a guess.
    expect(value(families, 'mcp_sessions_max', { server_id: 'ext-running' })).toBeUndefined();
    expect(value(families, 'mcp_sessions_max', { server_id: 'ext-stopped' })).toBeUndefined();
    // A stopped writer's age would only grow: no series, so that a staleness alert never fires on it.
    expect(value(families, 'mcp_snapshot_age_seconds', { server_id: 'ext-stopped' })).toBeUndefined();
    expect(value(families, 'mcp_snapshot_age_seconds', { server_id: 'ext-running' })).toBeGreaterThanOrEqual(0);
    expect(value(families, 'mcp_snapshot_age_seconds', { server_id: 'default' })).toBeGreaterThanOrEqual(0);
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

describe('GET /metrics: eras and operations, from the snapshot', () => {
  it('shows clients by era, and the operations and session durations as histograms equal to the snapshot', async () => {
    const api = await startApi();
    const hostile = 'a"b\nc\\d';
    const snap = await writeSnapshot(api.stateDir, 'ext', {
      connections: [
        connectionOf('m-0123456789abcdef', { era: 'modern', protocolVersion: '2026-07-28', lastMethod: 'tools/call', clientIP: '10.9.8.7' }),
        connectionOf('5b1d1f0e-legacy-one', { era: 'legacy', lastMethod: 'tools/list' }),
        // A writer from before eras were recorded writes no era: legacy.
        connectionOf('0c2e5a77-no-era-at-all'),
      ],
      totalConnections: 7,
      operations: [
        operationOf('tools/call', 'echo', [0.003, 0.02, 0.2]),
        operationOf('tools/call', 'echo', [0.2], 'tool_error'),
        operationOf('tools/call', 'echo', [3], '-32603'),
        operationOf('tools/call', hostile, [0.7]),
        operationOf('prompts/get', 'greet', [0.04], '-32603'),
        operationOf('tools/list', null, [0.001, 0.002]),
        operationOf('server/discover', null, []),
      ],
      sessionDurations: sessionDurationsOf([0.5, 42, 4000]),
    });
    const ext = { server_id: 'ext' };
    const { text, families } = await waitFor(async () => {
      const s = await scrape(api);
      return value(s.families, 'mcp_clients_active', { ...ext, era: 'modern' }) === 1 ? s : undefined;
    }, { what: 'the external server in /metrics' });
    expect(value(families, 'mcp_clients_active', { ...ext, era: 'legacy' })).toBe(2);
    expect(value(families, 'mcp_sessions_active', ext)).toBe(3);
    for (const [name, type] of Object.entries(MCP_METRICS)) expect(families.get(name)?.type, name).toBe(type);

    const errorsOf = new Map<string, number>();
    for (const op of snap.operations!) {
      const labels = {
        ...ext,
        mcp_method_name: op.method,
        gen_ai_tool_name: op.method === 'tools/call' ? op.name! : '',
        gen_ai_prompt_name: op.method === 'prompts/get' ? op.name! : '',
      };
      const k = JSON.stringify(labels);
      errorsOf.set(k, (errorsOf.get(k) ?? 0) + op.errors);
      // Each entry is a series of the histogram: one per error type.
      const series = { ...labels, error_type: op.errorType ?? '' };
      const what = JSON.stringify(series);
      OPERATION_BOUNDS.forEach((le, i) => expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...series, le: String(le) }), `${what} le ${le}`).toBe(op.durationSeconds.buckets[i]));
      expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...series, le: '+Inf' }), what).toBe(op.count);
      expect(value(families, 'mcp_server_operation_duration_seconds_count', series), what).toBe(op.count);
      expect(value(families, 'mcp_server_operation_duration_seconds_sum', series), what).toBeCloseTo(op.durationSeconds.sum, 9);
    }
    // The errors counter has no error_type: one series per method and name, the entries summed.
    for (const [k, errors] of errorsOf) expect(value(families, 'mcp_server_operation_errors_total', JSON.parse(k)), k).toBe(errors);
    // Spot checks against numbers worked out by hand, not only against the snapshot.
    const echo = { ...ext, mcp_method_name: 'tools/call', gen_ai_tool_name: 'echo', gen_ai_prompt_name: '' };
    const ok = { ...echo, error_type: '' };
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: '0.01' })).toBe(1);
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: '0.02' })).toBe(2);
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: '0.2' })).toBe(3);
    expect(value(families, 'mcp_server_operation_duration_seconds_sum', ok)).toBeCloseTo(0.223, 9);
    expect(value(families, 'mcp_server_operation_duration_seconds_count', { ...echo, error_type: 'tool_error' })).toBe(1);
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...echo, error_type: '-32603', le: '2' })).toBe(0);
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...echo, error_type: '-32603', le: '5' })).toBe(1);
    // The conventions' bounds reach 300 s (the old ones stopped at 10).
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: '300' })).toBe(3);
    expect(value(families, 'mcp_server_operation_errors_total', echo)).toBe(2);
    expect(value(families, 'mcp_server_operation_errors_total', { ...ext, mcp_method_name: 'prompts/get', gen_ai_tool_name: '', gen_ai_prompt_name: 'greet' })).toBe(1);
    // A client's tool name is escaped in the text, and reads back as it was.
    expect(text).toContain('gen_ai_tool_name="a\\"b\\nc\\\\d"');
    expect(value(families, 'mcp_server_operation_duration_seconds_count', { ...ext, mcp_method_name: 'tools/call', gen_ai_tool_name: hostile, gen_ai_prompt_name: '', error_type: '' })).toBe(1);

    const durations = snap.sessionDurations!;
    SESSION_DURATION_BOUNDS.forEach((le, i) => expect(value(families, 'mcp_server_session_duration_seconds_bucket', { ...ext, le: String(le) }), `le ${le}`).toBe(durations.buckets[i]));
    expect(value(families, 'mcp_server_session_duration_seconds_bucket', { ...ext, le: '1' })).toBe(1);
    expect(value(families, 'mcp_server_session_duration_seconds_bucket', { ...ext, le: '3600' })).toBe(2);
    expect(value(families, 'mcp_server_session_duration_seconds_bucket', { ...ext, le: '+Inf' })).toBe(3);
    expect(value(families, 'mcp_server_session_duration_seconds_count', ext)).toBe(3);
    expect(value(families, 'mcp_server_session_duration_seconds_sum', ext)).toBeCloseTo(4042.5, 9);

    for (const f of families.values()) {
      if (!f.name.startsWith('mcp_')) continue;
      for (const s of f.samples) expect(Object.keys(s.labels).sort(), s.name).toEqual(ALLOWED_LABELS[s.name] ?? ['server_id']);
    }
    for (const c of snap.connections) expect(text).not.toContain(c.sessionId);
    expect(text).not.toContain('10.9.8.7');
  });

  it('sums a method and name listed twice into one series (Prometheus rejects a duplicate)', async () => {
    const api = await startApi();
    await writeSnapshot(api.stateDir, 'twice', {
      connections: [],
      operations: [operationOf('tools/call', 'x', [0.001], 'tool_error'), operationOf('tools/call', 'x', [0.3]), operationOf('tools/call', 'x', [0.4])],
    });
    const labels = { server_id: 'twice', mcp_method_name: 'tools/call', gen_ai_tool_name: 'x', gen_ai_prompt_name: '' };
    const ok = { ...labels, error_type: '' };
    const { families } = await waitFor(async () => {
      const s = await scrape(api);
      return value(s.families, 'mcp_server_operation_duration_seconds_count', ok) !== undefined ? s : undefined;
    }, { what: 'the operations of "twice"' });
    expect(value(families, 'mcp_server_operation_duration_seconds_count', ok)).toBe(2);
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: '0.2' })).toBe(0);
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: '0.5' })).toBe(2);
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...labels, error_type: 'tool_error', le: '0.01' })).toBe(1);
    expect(value(families, 'mcp_server_operation_errors_total', labels)).toBe(1);
    // No sessionDurations in that snapshot: no series, rather than a false zero.
    expect(value(families, 'mcp_server_session_duration_seconds_count', { server_id: 'twice' })).toBeUndefined();
  });

  it("re-counts an older writer's buckets for the conventions' bounds, never below their true bucket", async () => {
    const api = await startApi();
    // A writer from before `operationBounds` (its entries have no errorType and may count errors).
    await writeSnapshot(api.stateDir, 'old', {
      connections: [],
      operationBounds: undefined,
      operations: [{ ...operationOf('tools/call', 'x', [0.003, 0.007, 0.02, 3, 11], null, LEGACY_OPERATION_BOUNDS), errors: 2 }],
    });
    const labels = { server_id: 'old', mcp_method_name: 'tools/call', gen_ai_tool_name: 'x', gen_ai_prompt_name: '' };
    const ok = { ...labels, error_type: '' };
    const { families } = await waitFor(async () => {
      const s = await scrape(api);
      return value(s.families, 'mcp_server_operation_duration_seconds_count', ok) !== undefined ? s : undefined;
    }, { what: 'the operations of "old"' });
    // Old buckets (le 0.005: 1, 0.01: 1, 0.025: 1, 5: 1, +Inf: 1) under the smallest new bound
    // not below each: 0.01 gets 2, 0.05 one, 5 one; 11 s stays above every bound.
    const got = OPERATION_BOUNDS.map((le) => value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: String(le) }));
    expect(got).toEqual([2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4]);
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: '0.005' })).toBeUndefined();
    expect(value(families, 'mcp_server_operation_duration_seconds_bucket', { ...ok, le: '+Inf' })).toBe(5);
    expect(value(families, 'mcp_server_operation_errors_total', labels)).toBe(2);
  });
});

describe('the test parser', () => {
  it('rejects what Prometheus would reject', () => {
    expect(() => parsePrometheus('# TYPE a gauge\na{x="1"} 1\n')).not.toThrow();
    expect(() => parsePrometheus('# TYPE a gauge\na 1')).toThrow(/newline/);
    expect(() => parsePrometheus('b 1\n')).toThrow(/no declared family/);
    expect(() => parsePrometheus('# TYPE a gauge\na{x=1} 1\n')).toThrow(/labels/);
    expect(() => parsePrometheus('# TYPE a gauge\na one\n')).toThrow(/bad value/);
    expect(() => parsePrometheus('# TYPE a gauge\na 1\na 2\n')).toThrow(/duplicate/);
    expect(() => parsePrometheus('# TYPE a gauge\n# TYPE a counter\n')).toThrow(/twice/);
  });
});
