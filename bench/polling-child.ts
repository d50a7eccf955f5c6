/**
 * The design we replace, for (3): the MCP child serves its connection map on an internal HTTP
 * port; its parent polls it. Here the map changes when the bench says so (IPC), and the child
 * answers with the CLOCK_MONOTONIC time of the change.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { nowMs } from './lib/clock.js';

const sessions = new Map<string, { sessionId: string; connectedAt: string }>();
const server = http.createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ connections: [...sessions.values()] }));
});
server.listen(0, '127.0.0.1', () => {
  process.send!({ port: (server.address() as AddressInfo).port });
});
process.on('message', (m: { add: string }) => {
  sessions.set(m.add, { sessionId: m.add, connectedAt: new Date().toISOString() });
  process.send!({ added: m.add, at: nowMs() });
});
process.on('disconnect', () => server.close());
