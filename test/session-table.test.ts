/**
 * SessionTable, the legacy sessions of hosting and proxying alike, on its own with a real
 * registry: slots against --max-sessions (with slots held beyond the open sessions), requests
 * in flight, the idle sweep, the gone-grace after a GET stream, ending once (table, registry,
 * then the owner's onEnd), and its lifecycle.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { SessionTable, type SessionEnd, type SessionTableOptions } from '../server/sessions/session-table.js';
import { connectionOf } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

function table(o: Partial<SessionTableOptions<string>> = {}) {
  const registry = new SessionRegistry();
  const events: string[] = [];
  registry.on('connect', (c) => events.push(`connect ${c.sessionId}`));
  registry.on('disconnect', (e) => events.push(`disconnect ${e.connection.sessionId} ${e.reason}${e.by ? ` by ${e.by}` : ''}`));
  const ends: Array<{ id: string; data: string; end: SessionEnd; listed: boolean }> = [];
  const t = new SessionTable<string>({
    registry,
    logger: pino({ level: 'silent' }),
    maxSessions: 2,
    sessionIdleMs: 0,
    onEnd: (s, end) => void ends.push({ id: s.id, data: s.data, end, listed: registry.get(s.id) !== undefined }),
    ...o,
  });
  return { t, registry, events, ends };
}

describe('SessionTable', () => {
  it('opens a session once per id, listed in the registry, and refuses an id the registry lists already', () => {
    const { t, registry, events } = table();
    expect(t.open(connectionOf('a'), 'A')).toBeDefined();
    expect(t.open(connectionOf('a'), 'again')).toBeUndefined();
    registry.add(connectionOf('m-0123456789abcdef'));
    expect(t.open(connectionOf('m-0123456789abcdef'), 'B')).toBeUndefined();
    expect(t.get('a')?.data).toBe('A');
    expect(t.size).toBe(1);
    expect(events).toEqual(['connect a', 'connect m-0123456789abcdef']);
  });

  it('counts open sessions, reservations and held slots against maxSessions', () => {
    let held = 0;
    const { t } = table({ held: () => held });
    t.open(connectionOf('a'), 'A');
    const release = t.slots.reserve();
    expect(release).toBeDefined();
    expect(t.slots.reserve()).toBeUndefined();
    release!();
    held = 1;
    expect(t.slots.reserve()).toBeUndefined();
    held = 0;
    expect(t.slots.reserve()).toBeDefined();
  });

  it('ends a session once: out of the table and the registry before its owner is told, with reason, who and whether the peer ended it', async () => {
    const { t, events, ends } = table();
    t.open(connectionOf('a'), 'A');
    t.open(connectionOf('b'), 'B');
    await t.end('a', { reason: 'terminated', by: 'ops@host', byPeer: false });
    await t.end('a', { reason: 'idle', byPeer: false });
    await t.end('b', { reason: 'delete', byPeer: true });
    expect(t.has('a')).toBe(false);
    expect(events).toEqual(['connect a', 'connect b', 'disconnect a terminated by ops@host', 'disconnect b delete']);
    expect(ends).toEqual([
      { id: 'a', data: 'A', end: { reason: 'terminated', by: 'ops@host', byPeer: false }, listed: false },
      { id: 'b', data: 'B', end: { reason: 'delete', byPeer: true }, listed: false },
    ]);
  });

  it('ends a session whose GET stream went away after the gone-grace, unless a request comes meanwhile', async () => {
    const { t, events } = table({ goneGraceMs: 60 });
    const a = t.open(connectionOf('a'), 'A')!;
    const b = t.open(connectionOf('b'), 'B')!;
    t.request(a, undefined, true)();
    t.request(b, undefined, true)();
    // b's client comes back within the grace (the SDK's reconnect): it stays.
    const post = t.request(b, 'tools/list', false);
    await waitFor(() => !t.has('a'), { what: 'a ended after the grace' });
    post();
    await new Promise((r) => setTimeout(r, 150));
    expect(t.has('b')).toBe(true);
    expect(events).toContain('disconnect a close');
  });

  it('sweeps sessions idle for sessionIdleMs, never one with a request in flight', async () => {
    const { t, events } = table({ sessionIdleMs: 80, sweepIntervalMs: 20 });
    t.start();
    t.open(connectionOf('idle'), 'I');
    const busy = t.open(connectionOf('busy'), 'B')!;
    const done = t.request(busy, 'tools/call', false);
    await waitFor(() => !t.has('idle'), { what: 'the idle session swept' });
    expect(t.has('busy')).toBe(true);
    done();
    done();
    expect(busy.inFlight).toBe(0);
    await waitFor(() => !t.has('busy'), { what: 'busy swept once idle' });
    expect(events.filter((e) => e.startsWith('disconnect'))).toEqual(['disconnect idle idle', 'disconnect busy idle']);
    await t.close();
  });

  it('start() twice throws; close() ends every session (shutdown), waits for the owner, and is the same promise', async () => {
    let closed = 0;
    const { t, events } = table({ onEnd: () => new Promise<void>((r) => setTimeout(() => r(void (closed += 1)), 30)) });
    t.start();
    expect(() => t.start()).toThrow(/already started/);
    t.open(connectionOf('a'), 'A');
    t.open(connectionOf('b'), 'B');
    const closing = t.close();
    expect(t.close()).toBe(closing);
    expect(t.closing).toBe(true);
    await closing;
    expect(closed).toBe(2);
    expect(events.slice(2)).toEqual(['disconnect a shutdown', 'disconnect b shutdown']);
  });

  it('close() before start(): start() arms no sweep', async () => {
    const { t } = table({ sessionIdleMs: 50, sweepIntervalMs: 10 });
    await t.close();
    t.start();
    // Opened after close (a late answer): nothing sweeps it; its owner ends it.
    t.open(connectionOf('late'), 'L');
    await new Promise((r) => setTimeout(r, 150));
    expect(t.has('late')).toBe(true);
  });
});
