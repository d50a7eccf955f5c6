/**
 * The schema additions for protocol eras and operations: `era`, `lastMethod`, `process` on
 * connections, `backend`, `operations` and `sessionDurations` on the snapshot; and the histogram
 * helpers.
 */
import { describe, expect, it } from 'vitest';
import { LEGACY_OPERATION_BOUNDS, OPERATION_BOUNDS, SESSION_DURATION_BOUNDS, emptyHistogram, observe, quantile, remapBuckets } from '../shared/operations.js';
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
        operations: [{ method: 'tools/call', name: 'echo', errorType: 'tool_error', count: 3, errors: 3, durationSeconds: { sum: ops.sum, buckets: ops.buckets } }],
        operationBounds: [...OPERATION_BOUNDS],
        sessionDurations: histogram([0.5, 42], SESSION_DURATION_BOUNDS),
      },
      { era: 'modern', lastMethod: 'tools/call', process: { pid: 7, rssBytes: 1024 } },
    ));
    expect(s.connections[0]).toMatchObject({ era: 'modern', lastMethod: 'tools/call', process: { pid: 7, rssBytes: 1024 } });
    expect(s.operations?.[0]?.durationSeconds.buckets).toEqual([1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
    expect(validateSnapshot(snapshot()).connections[0]?.era).toBeUndefined();
    // Without operationBounds (an older writer), the buckets are for the legacy bounds.
    const old = histogram([0.003, 0.02, 0.2], LEGACY_OPERATION_BOUNDS);
    const legacy = validateSnapshot(snapshot({ operations: [{ method: 'tools/call', name: 'echo', count: 3, errors: 1, durationSeconds: { sum: old.sum, buckets: old.buckets } }] }));
    expect(legacy.operations?.[0]?.durationSeconds.buckets).toEqual([1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3]);
  });

  it.each([
    [{}, { era: 'future' }, /connections\[0\]\.era must be one of legacy\|modern/],
    [{}, { process: { pid: 'x' } }, /connections\[0\]\.process\.pid/],
    [{ backend: { kind: 'magic', target: null } }, {}, /backend\.kind must be one of builtin\|entry\|upstream\|command/],
    [{ operations: [{ method: 'x', name: null, count: 1, errors: 2, durationSeconds: { sum: 0, buckets: LEGACY_OPERATION_BOUNDS.map(() => 0) } }] }, {}, /operations\[0\]\.errors/],
    [{ operations: [{ method: 'x', name: null, count: 1, errors: 0, durationSeconds: { sum: 0, buckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] } }] }, {}, /operations\[0\]\.durationSeconds\.buckets\[1\] must be a cumulative count/],
    [{ operations: [{ method: 'x', name: null, count: 1, errors: 0, durationSeconds: { sum: 0, buckets: [0] } }] }, {}, /must be an array of 11 counts/],
    // Buckets are checked against the snapshot's own bounds.
    [{ operationBounds: [...OPERATION_BOUNDS], operations: [{ method: 'x', name: null, count: 0, errors: 0, durationSeconds: { sum: 0, buckets: LEGACY_OPERATION_BOUNDS.map(() => 0) } }] }, {}, /must be an array of 14 counts/],
    [{ operationBounds: [] }, {}, /operationBounds must be an array of 1-64 bounds/],
    [{ operationBounds: [0.1, 0.1] }, {}, /operationBounds\[1\] must be a positive number above the one before/],
    [{ operationBounds: [0, 1] }, {}, /operationBounds\[0\]/],
    [{ operationBounds: ['1'] }, {}, /operationBounds\[0\]/],
    [{ operations: [{ method: 'x', name: null, errorType: 'x'.repeat(33), count: 0, errors: 0, durationSeconds: { sum: 0, buckets: LEGACY_OPERATION_BOUNDS.map(() => 0) } }] }, {}, /operations\[0\]\.errorType must be null or a string of 1-32 characters/],
    [{ operations: [{ method: 'x', name: null, errorType: 7, count: 0, errors: 0, durationSeconds: { sum: 0, buckets: LEGACY_OPERATION_BOUNDS.map(() => 0) } }] }, {}, /operations\[0\]\.errorType/],
    [{ sessionDurations: { sum: -1, count: 0, buckets: SESSION_DURATION_BOUNDS.map(() => 0) } }, {}, /sessionDurations\.sum must be a non-negative number/],
    [{ operations: Array.from({ length: 101 }, (_, i) => ({ method: `m${i}`, name: null, count: 0, errors: 0, durationSeconds: { sum: 0, buckets: LEGACY_OPERATION_BOUNDS.map(() => 0) } })) }, {}, /more than 100/],
  ])('rejects %j %j', (extra, connection, message) => {
    expect(() => validateSnapshot(snapshot(extra, connection))).toThrow(SnapshotValidationError);
    expect(() => validateSnapshot(snapshot(extra, connection))).toThrow(message);
  });
});

describe('histograms', () => {
  it('counts cumulatively, and a value on a bound falls in that bucket', () => {
    const h = histogram([0.01, 0.006, 11, 400], OPERATION_BOUNDS);
    expect(h.buckets).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(h.count).toBe(4);
    expect(h.sum).toBeCloseTo(411.016);
  });

  it('estimates quantiles as histogram_quantile does', () => {
    // 10 values in (0.02, 0.05], 10 in (0.1, 0.2].
    const h = histogram([...Array(10).fill(0.03), ...Array(10).fill(0.15)], OPERATION_BOUNDS);
    expect(quantile(OPERATION_BOUNDS, h.buckets, h.count, 0.5)).toBeCloseTo(0.05);
    expect(quantile(OPERATION_BOUNDS, h.buckets, h.count, 0.25)).toBeCloseTo(0.035);
    expect(quantile(OPERATION_BOUNDS, h.buckets, h.count, 0.95)).toBeCloseTo(0.1 + 0.1 * 0.9);
    expect(quantile(OPERATION_BOUNDS, emptyHistogram(OPERATION_BOUNDS).buckets, 0, 0.5)).toBeNull();
    // A 60 s call has a bucket of its own now; past 300 s the estimate is the last bound.
    const slow = histogram([60], OPERATION_BOUNDS);
    expect(quantile(OPERATION_BOUNDS, slow.buckets, slow.count, 0.5)).toBeCloseTo(45);
    const slower = histogram([900], OPERATION_BOUNDS);
    expect(quantile(OPERATION_BOUNDS, slower.buckets, slower.count, 0.99)).toBe(300);
  });

  it("re-counts old buckets for new bounds: each count under the smallest new bound not below its old one, +Inf kept", () => {
    const old = histogram([0.003, 0.007, 0.02, 3, 11], LEGACY_OPERATION_BOUNDS);
    expect(remapBuckets(old.buckets, LEGACY_OPERATION_BOUNDS, OPERATION_BOUNDS)).toEqual([2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4]);
    expect(remapBuckets(old.buckets, LEGACY_OPERATION_BOUNDS, LEGACY_OPERATION_BOUNDS)).toEqual(old.buckets);
    // Random histograms (a fixed seed): a remapped count is never below its true bucket (the
    // new cumulative count at a bound is at most the true count of values up to it), nothing
    // is lost, and a bound both sets share keeps its count exactly.
    let seed = 3;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let k = 0; k < 200; k += 1) {
      const values = Array.from({ length: Math.floor(random() * 30) }, () => 10 ** (random() * 6 - 3));
      const got = remapBuckets(histogram(values, LEGACY_OPERATION_BOUNDS).buckets, LEGACY_OPERATION_BOUNDS, OPERATION_BOUNDS);
      const truth = histogram(values, OPERATION_BOUNDS).buckets;
      got.forEach((c, i) => expect(c).toBeLessThanOrEqual(truth[i]!));
      expect(got[got.length - 1]).toBeLessThanOrEqual(values.length);
      for (const b of [0.01, 0.05, 0.1, 0.5, 1, 5, 10]) expect(got[OPERATION_BOUNDS.indexOf(b)]).toBe(histogram(values, LEGACY_OPERATION_BOUNDS).buckets[LEGACY_OPERATION_BOUNDS.indexOf(b)]);
    }
  });
});
