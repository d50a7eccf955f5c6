/**
 * UpstreamSessions, the `--upstream` session table, on its own with a real registry: what the
 * registry (and so the journal) hears when an `initialize` answer comes back after close(); its
 * lifecycle (`start()` twice throws, `close()` the same promise, a close() during start() leaves
 * no idle sweep running).
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { Upstream } from '../server/backends/upstream/upstream.js';
import { UpstreamSessions, type UpstreamSessionsOptions } from '../server/backends/upstream/upstream-sessions.js';
import { makeStateDir } from './helpers/processes.js';
import { connectionOf } from './helpers/snapshot-files.js';

const upstreams: Upstream[] = [];
afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

function table(o: Partial<UpstreamSessionsOptions> = {}): { sessions: UpstreamSessions; events: string[] } {
  const registry = new SessionRegistry();
  const events: string[] = [];
  registry.on('connect', (c) => events.push(`connect ${c.sessionId}`));
  registry.on('disconnect', (e) => events.push(`disconnect ${e.connection.sessionId} ${e.reason}`));
  // Nothing listens there: no request reaches it in these cases.
  const upstream = new Upstream('http://127.0.0.1:9/mcp');
  upstreams.push(upstream);
  const sessions = new UpstreamSessions({ registry, upstream, logger: pino({ level: 'silent' }), maxSessions: 4, sessionIdleMs: 0, ...o });
  return { sessions, events };
}

describe('UpstreamSessions', () => {
  it('a session opened after close() began ends at once (shutdown): its connect is never left without a disconnect', async () => {
    const { sessions, events } = table();
    await sessions.start();
    sessions.open(connectionOf('before'));
    const closing = sessions.close();
    // The upstream's answer to an initialize sent before the close arrives now.
    sessions.open(connectionOf('late'));
    await closing;
    expect(events).toEqual(['connect before', 'disconnect before shutdown', 'connect late', 'disconnect late shutdown']);
    expect(sessions.has('late')).toBe(false);
  });

  it('start() twice throws', async () => {
    const { sessions } = table();
    await sessions.start();
    await expect(sessions.start()).rejects.toThrow(/UpstreamSessions already started/);
    await sessions.close();
  });

  it('close() returns the same promise every time', async () => {
    const { sessions } = table({ dir: await makeStateDir() });
    await sessions.start();
    sessions.open(connectionOf('one'));
    const a = sessions.close();
    expect(sessions.close()).toBe(a);
    await a;
    expect(sessions.has('one')).toBe(false);
  });

  it('close() while start() reads the issued ids: start() resolves, and no idle sweep ever runs', async () => {
    // The sweep reads the clock (every 10 ms, were it running); nothing else here does.
    let readings = 0;
    const clock = () => ((readings += 1), performance.now());
    const { sessions } = table({ dir: await makeStateDir(), sessionIdleMs: 1000, sweepIntervalMs: 10, clock });
    const starting = sessions.start();
    const closing = sessions.close();
    await starting;
    await closing;
    const before = readings;
    await new Promise((r) => setTimeout(r, 100));
    expect(readings).toBe(before);
  });
});
