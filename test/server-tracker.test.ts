/**
 * `tail`'s ServerTracker on the order in which a writer's files can land: the journal's connect
 * line before a snapshot write that was built before the connect, and then the snapshot that
 * lists the session. Real snapshots (validated), a clock of the test's own.
 */
import { describe, expect, it } from 'vitest';
import { ServerTracker, type TailEvent } from '../cli/server-tracker.js';
import type { ServerState } from '../shared/io/server-state.js';
import { SNAPSHOT_SCHEMA, validateSnapshot, type Connection, type Snapshot } from '../shared/snapshot.js';
import { connectionOf } from './helpers/snapshot-files.js';

const PID = 4242;
const STARTED = '2026-12-06T10:00:00.000Z';

function stateOf(seq: number, connections: Connection[]): ServerState {
  const now = new Date().toISOString();
  const snapshot: Snapshot = validateSnapshot({
    schema: SNAPSHOT_SCHEMA, serverId: 'default', pid: PID, seq, status: 'running', reason: 'connect', startedAt: STARTED, writtenAt: now,
    heartbeatMs: 2000, mcp: null, activeConnections: connections.length, totalConnections: connections.length, lastUpdated: now, connections,
  });
  return { serverId: 'default', file: '/state/default/snapshot.json', snapshot, error: null, verdict: { state: 'running', since: STARTED, why: [] }, probe: { pidAlive: true, lockMtimeMs: Date.now() } };
}

describe('ServerTracker', () => {
  it('does not end a session that a snapshot left out once, when the next one lists it', () => {
    let now = 1_000_000;
    const events: TailEvent[] = [];
    const tracker = new ServerTracker({ serverId: 'default', emit: (e) => events.push(e), graceMs: 1000, now: () => now });
    tracker.initial(stateOf(1, []));
    const c = connectionOf('s-1');
    tracker.journal([{ event: 'connect', seq: 1, ts: new Date(now).toISOString(), pid: PID, sessionId: 's-1', clientIP: c.clientIP, connectedAt: c.connectedAt }]);
    // The write that was in flight at the connect: newer, without the session.
    tracker.snapshot(stateOf(2, []));
    // The write that the connect asked for.
    tracker.snapshot(stateOf(3, [c]));
    now += 5000;
    tracker.tick();
    expect(events.filter((e) => e.event === 'disconnect')).toEqual([]);
    // Left out for good, and no journal line: ended as unknown once the grace is over.
    tracker.snapshot(stateOf(4, []));
    now += 1001;
    tracker.tick();
    expect(events.filter((e) => e.event === 'disconnect')).toMatchObject([{ sessionId: 's-1', reason: 'unknown' }]);
  });
});
