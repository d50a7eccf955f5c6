/**
 * Lifecycle of the SSE hub of `GET /api/mcp/events` (api/sse-hub.ts), on a real HTTP server:
 * it has no start() (it serves from its construction); `close()` returns the same promise,
 * which resolves once every stream has closed, a stream its client does not read included;
 * after it a subscriber is refused and no keep-alive is sent.
 */
import http from 'node:http';
import net from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { SseHub } from '../api/sse-hub.js';
import type { Snapshot } from '../shared/snapshot.js';
import { waitFor } from './helpers/wait-for.js';

const toClose: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((c) => c().catch(() => undefined)));
});

/** The fields of a snapshot a frame is built from; `pad` makes it as large as wanted. */
const snapshot = (seq: number, pad = '') => ({ serverId: 'a', pid: 1, seq, pad }) as unknown as Snapshot;

async function hubServer() {
  const hub = new SseHub({ keepAliveMs: 20 });
  const app = express();
  app.get('/events', (req, res) => hub.add(req, res, undefined, [snapshot(1)]));
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  toClose.push(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { hub, port: (server.address() as net.AddressInfo).port };
}

/** A subscriber reading its stream: what it got, and whether the stream ended. */
function subscribe(port: number): Promise<{ status: number; text: () => string; ended: () => boolean }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/events' }, (res) => {
      let text = '';
      let ended = false;
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => (ended = true));
      res.on('error', () => (ended = true));
      resolve({ status: res.statusCode!, text: () => text, ended: () => ended });
    }).on('error', reject);
  });
}

describe('SseHub lifecycle', () => {
  it('close() returns the same promise, resolved once every stream has ended; no keep-alive after it', async () => {
    const { hub, port } = await hubServer();
    const subs = [await subscribe(port), await subscribe(port)];
    await waitFor(() => subs.every((s) => s.text().includes(': keep-alive')), { what: 'a keep-alive on each stream' });
    const a = hub.close();
    expect(a).toBeInstanceOf(Promise);
    expect(hub.close()).toBe(a);
    await a;
    expect(hub.size).toBe(0);
    await waitFor(() => subs.every((s) => s.ended()), { what: 'both streams ended' });
    const seen = subs.map((s) => s.text());
    await new Promise((r) => setTimeout(r, 100));
    expect(subs.map((s) => s.text())).toEqual(seen);
  });

  it('close() cuts a stream whose client does not read, and resolves: it does not wait for a reader', { timeout: 10_000 }, async () => {
    const { hub, port } = await hubServer();
    // A client that sends its request and never reads a byte.
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let tail = '';
    socket.on('data', (d: Buffer) => (tail = (tail + d.toString('latin1')).slice(-16)));
    socket.pause();
    socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await waitFor(() => hub.size === 1, { what: 'the subscriber added' });
    // A frame larger than what the kernel buffers on loopback: the socket stays backed up (the
    // hub holds the next aside), and an ended stream would never finish.
    const pad = 'x'.repeat(32 * 1024 * 1024);
    for (let seq = 2; seq < 5; seq += 1) hub.broadcast(snapshot(seq, pad));
    await hub.close();
    expect(hub.size).toBe(0);
    // Cut: once the client reads what reached it, the connection is over, its response unfinished
    // (an ended one would close with the last chunk of its chunked body).
    const closed = new Promise((r) => socket.once('close', r));
    socket.resume();
    await closed;
    expect(tail.endsWith('0\r\n\r\n')).toBe(false);
  });

  it('a subscriber after close() gets 503 and is not kept', async () => {
    const { hub, port } = await hubServer();
    await hub.close();
    const late = await subscribe(port);
    expect(late.status).toBe(503);
    expect(hub.size).toBe(0);
  });
});
