/** The snapshot schema: what readers accept and what they reject, staleness and ordering. */
import { describe, expect, it } from 'vitest';
import { SNAPSHOT_SCHEMA, SnapshotValidationError, isNewer, isStale, parseSnapshot, validateSnapshot, type Snapshot } from '../shared/snapshot.js';

const T = '2026-11-24T10:00:00.000Z';
function good(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: SNAPSHOT_SCHEMA, serverId: 'default', pid: 4242, seq: 17, status: 'running', reason: 'connect', startedAt: T, writtenAt: T,
    heartbeatMs: 2000, mcp: { url: 'http://127.0.0.1:3322/mcp', endpoint: '/mcp', port: 3322 }, activeConnections: 1, totalConnections: 3, lastUpdated: T,
    connections: [{ sessionId: 's1', clientIP: '127.0.0.1', userAgent: 'node', connectedAt: T, lastActivity: T, requestCount: 4, clientInfo: { name: 'c', version: '1' }, protocolVersion: '2025-06-18' }],
    ...over,
  };
}

describe('validateSnapshot', () => {
  it('accepts a valid snapshot and keeps unknown fields', () => {
    const s = validateSnapshot(good({ extra: { x: 1 } }));
    expect(s.connections[0]!.clientInfo?.name).toBe('c');
    expect((s as unknown as { extra: unknown }).extra).toEqual({ x: 1 });
  });

  it.each([
    [{ schema: 'mcp-monitor/snapshot@2' }, /schema is "mcp-monitor\/snapshot@2"/],
    [{ schema: undefined }, /schema is missing/],
    [{ pid: 0 }, /pid must be a positive integer/],
    [{ seq: -1 }, /seq must be a non-negative integer/],
    [{ status: 'sleeping' }, /status must be one of starting\|running\|stopping\|stopped/],
    [{ reason: 'whim' }, /reason must be one of/],
    [{ writtenAt: '24/11/2026' }, /writtenAt is not an ISO-8601 UTC time/],
    [{ heartbeatMs: 0 }, /heartbeatMs must be a positive integer/],
    [{ mcp: 'http://x' }, /mcp must be an object or null/],
    [{ activeConnections: 2 }, /activeConnections is 2 but connections has 1 entries/],
    [{ totalConnections: 0 }, /totalConnections is 0, less than activeConnections 1/],
    [{ connections: [{ sessionId: 's1' }], activeConnections: 1 }, /connections\[0\]\.clientIP is missing/],
    [{ connections: undefined }, /connections is missing/],
  ])('rejects %j', (over, message) => {
    expect(() => validateSnapshot(good(over))).toThrow(SnapshotValidationError);
    expect(() => validateSnapshot(good(over))).toThrow(message);
  });

  it('accepts the connection of a wrap (transport stdio, no address, launchedBy) and a wrap backend', () => {
    const T2 = T;
    const wrapped = { sessionId: 's1', clientIP: null, userAgent: null, connectedAt: T2, lastActivity: T2, requestCount: 1, clientInfo: null, protocolVersion: null, transport: 'stdio', launchedBy: { pid: 7, name: 'claude' }, process: { pid: 8, rssBytes: null } };
    const s = validateSnapshot(good({ connections: [wrapped], backend: { kind: 'wrap', target: 'npx -y server-memory' } }));
    expect(s.connections[0]).toMatchObject({ clientIP: null, transport: 'stdio', launchedBy: { pid: 7, name: 'claude' } });
    expect(validateSnapshot(good({ connections: [{ ...wrapped, launchedBy: { pid: 7, name: null } }] })).connections[0]!.launchedBy).toEqual({ pid: 7, name: null });
    expect(() => validateSnapshot(good({ connections: [{ ...wrapped, transport: 'pigeon' }] }))).toThrow(/connections\[0\]\.transport must be one of http\|stdio/);
    expect(() => validateSnapshot(good({ connections: [{ ...wrapped, launchedBy: { pid: 0 } }] }))).toThrow(/launchedBy\.pid must be a positive integer/);
  });

  it('accepts a snapshot without processes, and one with them', () => {
    expect(validateSnapshot(good()).processes).toBeUndefined();
    const processes = [{ pid: 99, startTicks: 12345, uid: 0, bootId: '53163ec6-e001-49d0-a468-0fdf1faa9700', sessionId: null }, { pid: 100, startTicks: 1, uid: 1000, bootId: 'b', sessionId: 's1' }];
    expect(validateSnapshot(good({ processes })).processes).toEqual(processes);
  });

  it.each([
    [{ processes: {} }, /processes must be an array/],
    [{ processes: [7] }, /processes\[0\] must be an object/],
    [{ processes: [{ pid: 0, startTicks: 1, uid: 0, bootId: 'b', sessionId: null }] }, /processes\[0\]\.pid must be a positive integer/],
    [{ processes: [{ pid: 9, uid: 0, bootId: 'b', sessionId: null }] }, /processes\[0\]\.startTicks is missing/],
    [{ processes: [{ pid: 9, startTicks: 1, uid: -1, bootId: 'b', sessionId: null }] }, /processes\[0\]\.uid must be a non-negative integer/],
    [{ processes: [{ pid: 9, startTicks: 1, uid: 0, bootId: 'x'.repeat(65), sessionId: null }] }, /processes\[0\]\.bootId must have 1-64 characters/],
    [{ processes: [{ pid: 9, startTicks: 1, uid: 0, bootId: 'b', sessionId: 5 }] }, /processes\[0\]\.sessionId must be a string or null/],
  ])('rejects processes %j', (over, message) => {
    expect(() => validateSnapshot(good(over))).toThrow(message);
  });

  it('parseSnapshot names an empty file and a truncated one', () => {
    expect(() => parseSnapshot('')).toThrow(/snapshot is empty/);
    expect(() => parseSnapshot(JSON.stringify(good()).slice(0, 40))).toThrow(/snapshot is not JSON/);
  });
});

describe('isStale and isNewer', () => {
  const s = validateSnapshot(good()) as Snapshot;
  it('is stale past three heartbeats unless stopped', () => {
    const t = Date.parse(T);
    expect(isStale(s, t + 6000)).toBe(false);
    expect(isStale(s, t + 6001)).toBe(true);
    expect(isStale({ ...s, status: 'stopped' }, t + 60_000)).toBe(false);
  });
  it('orders by seq within a writer only', () => {
    expect(isNewer({ ...s, seq: 18 }, s)).toBe(true);
    expect(isNewer({ ...s, seq: 17 }, s)).toBe(false);
    expect(isNewer({ ...s, seq: 3 }, s)).toBe(false);
  });
  it('follows a new writer whatever its clock', () => {
    expect(isNewer({ ...s, pid: 5, seq: 1, startedAt: '2026-11-24T11:00:00.000Z' }, s)).toBe(true);
    // Started after the wall clock stepped back an hour: still the new writer.
    expect(isNewer({ ...s, pid: 5, seq: 1, startedAt: '2026-11-24T09:00:00.000Z' }, s)).toBe(true);
    // The same pid again (a container's child is always pid 7), another start: a new writer too.
    expect(isNewer({ ...s, seq: 1, startedAt: '2026-11-24T09:00:00.000Z' }, s)).toBe(true);
  });
});
