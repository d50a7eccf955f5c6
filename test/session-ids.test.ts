import { describe, expect, it } from 'vitest';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { listableSessionId } from '../server/backends/upstream/session-id.js';

const row = (sessionId: string, era: 'legacy' | 'modern') => ({
  sessionId, clientIP: '127.0.0.1', userAgent: null, connectedAt: new Date().toISOString(),
  lastActivity: new Date().toISOString(), requestCount: 1, clientInfo: null, protocolVersion: null, era, lastMethod: null,
});

describe('session ids from the network', () => {
  it('a second row with a listed id is refused, not thrown, and not announced', () => {
    const registry = new SessionRegistry();
    const connects: string[] = [];
    registry.on('connect', (c) => connects.push(c.sessionId));
    expect(registry.add(row('m-0123456789abcdef', 'modern'))).toBe(true);
    expect(registry.add(row('m-0123456789abcdef', 'legacy'))).toBe(false);
    expect(connects).toEqual(['m-0123456789abcdef']);
    expect(registry.get('m-0123456789abcdef')?.era).toBe('modern');
    expect(registry.created).toBe(1);
  });

  it('the proxy lists only visible-ASCII ids that do not name a modern client', () => {
    expect(listableSessionId('8c1f0e2a-1b2c-4d5e-8f90-0a1b2c3d4e5f')).toBe(true);
    expect(listableSessionId('m-0123456789abcdef')).toBe(false);
    expect(listableSessionId('a\tb')).toBe(false);
    expect(listableSessionId('caf\u00e9')).toBe(false);
    expect(listableSessionId('\u0085x')).toBe(false);
    expect(listableSessionId('')).toBe(false);
    expect(listableSessionId('x'.repeat(257))).toBe(false);
    expect(listableSessionId('x'.repeat(256))).toBe(true);
  });
});
