/**
 * The schema additions for protocol eras and operations: `era`, `lastMethod`, `process` on
 * connections, `backend`, `operations` and `sessionDurations` on the snapshot; and the histogram
 * helpers.
 */
import { describe, expect, it } from 'vitest';
import { OPERATION_BOUNDS, SESSION_DURATION_BOUNDS, emptyHistogram, observe, quantile } from '../shared/operations.js';
import { SnapshotValidationError, validateSnapshot } from '../shared/snapshot.js';

function snapshot(extra: Record<string, unknown> = {}, connection: Record<string, unknown> = {}): Record<string, unknown> {
  const t = '2026-12-01T10:00:00.000Z';
  return {
    schema: 'mcp-monitor/snapshot@1', serverId: 'default', pid: 42, seq: 1, status: 'running', reason: 'connect',
    startedAt: t, writtenAt: t, heartbeatMs: 2000, mcp: null, activeConnections: 1, totalConnections: 1, lastUpdated: t,
    connections: [{ sessionId: 'm-0123456789abcdef', clientIP: '127.0.0.1', userAgent: null, connectedAt: t, lastActivity: t, requestCount: 1, clientInfo: { name: 'c', version: '1' }, protocolVersion: '2026-07-28', ...connection }],
    ...extra,
  };
}

function histogram(values: number[], bounds: readonly number[]) {
  const h = emptyHistogram(bounds);
  for (const v of values) {
    observe(h, bounds, v);
    h.count += 1;
  }
  return h;
}

describe('schema additions for protocol eras and operations', () => {
  it('accepts a snapshot with every new field, and one without any', () => {
    const ops = histogram([0.003, 0.02, 0.2], OPERATION_BOUNDS);
    const s = validateSnapshot(snapshot(
      {
        backend: { kind: 'builtin', target: null },
        operations: [{ method: 'tools/call', name: 'echo', count: 3, errors: 1, durationSeconds: { sum: ops.sum, buckets: ops.buckets } }],
        sessionDurations: histogram([0.5, 42], SESSION_DURATION_BOUNDS),
      },
      { era: 'modern', lastMethod: 'tools/call', process: { pid: 7, rssBytes: 1024 } },
    ));
    expect(s.connections[0]).toMatchObject({ era: 'modern', lastMethod: 'tools/call', process: { pid: 7, rssBytes: 1024 } });
    expect(s.operations?.[0]?.durationSeconds.buckets).toEqual([1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3]);
    expect(validateSnapshot(snapshot()).connections[0]?.era).toBeUndefined();
  });

  it.each([
    [{}, { era: 'future' }, /connections\[0\]\.era must be one of legacy\|modern/],
    [{}, { process: { pid: 'x' } }, /connections\[0\]\.process\.pid/],
    [{ backend: { kind: 'magic', target: null } }, {}, /backend\.kind must be one of builtin\|entry\|upstream\|command/],
    [{ operations: [{ method: 'x', name: null, count: 1, errors: 2, durationSeconds: { sum: 0, buckets: OPERATION_BOUNDS.map(() => 0) } }] }, {}, /operations\[0\]\.errors/],
    [{ operations: [{ method: 'x', name: null, count: 1, errors: 0, durationSeconds: { sum: 0, buckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] } }] }, {}, /operations\[0\]\.durationSeconds\.buckets\[1\] must be a cumulative count/],
    [{ operations: [{ method: 'x', name: null, count: 1, errors: 0, durationSeconds: { sum: 0, buckets: [0] } }] }, {}, /must be an array of 11 counts/],
    [{ sessionDurations: { sum: -1, count: 0, buckets: SESSION_DURATION_BOUNDS.map(() => 0) } }, {}, /sessionDurations\.sum must be a non-negative number/],
    [{ operations: Array.from({ length: 101 }, (_, i) => ({ method: `m${i}`, name: null, count: 0, errors: 0, durationSeconds: { sum: 0, buckets: OPERATION_BOUNDS.map(() => 0) } })) }, {}, /more than 100/],
  ])('rejects %j %j', (extra, connection, message) => {
    expect(() => validateSnapshot(snapshot(extra, connection))).toThrow(SnapshotValidationError);
    expect(() => validateSnapshot(snapshot(extra, connection))).toThrow(message);
  });
});

describe('histograms', () => {
  it('counts cumulatively, and a value on a bound falls in that bucket', () => {
    const h = histogram([0.005, 0.006, 11], OPERATION_BOUNDS);
    expect(h.buckets).toEqual([1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(h.count).toBe(3);
    expect(h.sum).toBeCloseTo(11.011);
  });

  it('estimates quantiles as histogram_quantile does', () => {
    // 10 values in (0.01, 0.025], 10 in (0.1, 0.25].
    const h = histogram([...Array(10).fill(0.02), ...Array(10).fill(0.2)], OPERATION_BOUNDS);
    expect(quantile(OPERATION_BOUNDS, h.buckets, h.count, 0.5)).toBeCloseTo(0.025);
    expect(quantile(OPERATION_BOUNDS, h.buckets, h.count, 0.25)).toBeCloseTo(0.0175);
    expect(quantile(OPERATION_BOUNDS, h.buckets, h.count, 0.95)).toBeCloseTo(0.1 + 0.15 * 0.9);
    expect(quantile(OPERATION_BOUNDS, emptyHistogram(OPERATION_BOUNDS).buckets, 0, 0.5)).toBeNull();
    const slow = histogram([60], OPERATION_BOUNDS);
    expect(quantile(OPERATION_BOUNDS, slow.buckets, slow.count, 0.99)).toBe(10);
  });
});
