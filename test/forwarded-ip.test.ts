/** `forwardedIp`: the rule of Express's `trust proxy` for the `--upstream` endpoint, which runs without Express. */
import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { forwardedIp } from '../server/endpoint/forwarded-ip.js';

function req(remote: string, xff?: string): http.IncomingMessage {
  return { socket: { remoteAddress: remote }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } } as unknown as http.IncomingMessage;
}

describe('forwardedIp', () => {
  it('off: the socket, whatever the header says', () => {
    expect(forwardedIp(req('10.0.0.1', '203.0.113.9'), false)).toBe('10.0.0.1');
  });

  it('n hops: the n-th address back from the socket, never past the first', () => {
    expect(forwardedIp(req('10.0.0.1', '198.51.100.1, 203.0.113.9'), 1)).toBe('203.0.113.9');
    expect(forwardedIp(req('10.0.0.1', '198.51.100.1, 203.0.113.9'), 2)).toBe('198.51.100.1');
    expect(forwardedIp(req('10.0.0.1', '198.51.100.1, 203.0.113.9'), 5)).toBe('198.51.100.1');
    expect(forwardedIp(req('10.0.0.1'), 1)).toBe('10.0.0.1');
  });

  it('loopback: proxies are the loopback addresses; the first other one is the client', () => {
    expect(forwardedIp(req('127.0.0.1', '198.51.100.1, 203.0.113.9, ::1'), 'loopback')).toBe('203.0.113.9');
    expect(forwardedIp(req('::ffff:127.0.0.1', '203.0.113.9'), 'loopback')).toBe('203.0.113.9');
    // A client that is not a proxy cannot forge its address.
    expect(forwardedIp(req('10.0.0.1', '203.0.113.9'), 'loopback')).toBe('10.0.0.1');
    expect(forwardedIp(req('127.0.0.1', '127.0.0.2'), 'loopback')).toBe('127.0.0.2');
  });
});
