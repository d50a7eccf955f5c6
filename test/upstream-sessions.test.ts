/**
 * UpstreamSessions, the `--upstream` session table, on its own with a real registry: what the
 * registry (and so the journal) hears when an `initialize` answer comes back after close().
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionRegistry } from '../server/session-registry.js';
import { Upstream } from '../server/upstream/upstream.js';
import { UpstreamSessions } from '../server/upstream/upstream-sessions.js';
import { connectionOf } from './helpers/snapshot-files.js';

const upstreams: Upstream[] = [];
afterEach(() => {
  for (const u of upstreams.splice(0)) u.close();
});

function table(): { sessions: UpstreamSessions; events: string[] } {
  const registry = new SessionRegistry();
  const events: string[] = [];
  registry.on('connect', (c) => events.push(`connect ${c.sessionId}`));
  registry.on('disconnect', (e) => events.push(`disconnect ${e.connection.sessionId} ${e.reason}`));
  // Nothing listens there: no request reaches it in these cases.
  const upstream = new Upstream('http://127.0.0.1:9/mcp');
  upstreams.push(upstream);
  const sessions = new UpstreamSessions({ registry, upstream, logger: pino({ level: 'silent' }), maxSessions: 4, sessionIdleMs: 0 });
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
});
