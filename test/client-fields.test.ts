/** The bounds put on what an MCP client sends about itself (size and control characters), at the source. */
import { describe, expect, it } from 'vitest';
import { boundClientInfo, boundProtocolVersion, boundText, boundUserAgent, clientAddress, lastBoundText } from '../server/sessions/client-fields.js';

describe('client fields', () => {
  it('removes C0, DEL and C1 controls, then cuts, never inside a surrogate pair', () => {
    expect(boundText('a\u0000b\u001b[2Jc\u007fd\u0080e\u009ff\u00a0g', 100)).toBe('ab[2Jcdef\u00a0g');
    expect(boundText('x'.repeat(9) + '😀', 10)).toBe('x'.repeat(9));
    expect(boundText('x'.repeat(8) + '😀', 10)).toBe('x'.repeat(8) + '😀');
    expect(boundText(42, 10)).toBeUndefined();
  });

  it('lastBoundText answers as boundText for every input, repeated or not', () => {
    const bound = lastBoundText(10);
    const inputs: unknown[] = ['echo', 'echo', 'a\u001bb', 'a\u001bb', 'x'.repeat(9) + '😀', 'echo', 42, 'echo', undefined, '', '', 'y'.repeat(30), 'y'.repeat(30)];
    for (const v of inputs) expect(bound(v)).toBe(boundText(v, 10));
  });

  it('keeps only name, version and title of clientInfo', () => {
    expect(boundClientInfo({ name: 'n', version: 'v', title: 't', icons: [{ src: 'x' }], extra: 'e' })).toEqual({ name: 'n', version: 'v', title: 't' });
    expect(boundClientInfo({ name: 'n', version: 'v' })).toEqual({ name: 'n', version: 'v' });
    expect(boundClientInfo({ name: 7, title: { no: 1 } })).toEqual({ name: '', version: '' });
    expect(boundClientInfo(undefined)).toBeNull();
    expect(boundClientInfo(['n', 'v'])).toBeNull();
    expect(boundClientInfo('n')).toBeNull();
  });

  it('bounds the User-Agent and the protocol version', () => {
    expect(boundUserAgent('u'.repeat(600))).toHaveLength(512);
    expect(boundUserAgent(undefined)).toBeNull();
    expect(boundProtocolVersion('2025-06-18')).toBe('2025-06-18');
    expect(boundProtocolVersion('p'.repeat(100))).toHaveLength(64);
    expect(boundProtocolVersion(undefined)).toBeNull();
  });

  it('records an IP address, or unknown', () => {
    expect(clientAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(clientAddress('fd00::2')).toBe('fd00::2');
    expect(clientAddress(undefined)).toBe('unknown');
    expect(clientAddress('evil\u009b[2J')).toBe('unknown');
    expect(clientAddress('10.1.2.3:8080')).toBe('unknown');
  });
});
