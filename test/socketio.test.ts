/**
 * socket.io namespace `/monitoring` against the real API and its child, driven by
 * socket.io-client the way users' snippet does:
 * `io('http://localhost:3001/monitoring')`, `emit('subscribe_mcp_connections', {serverId})`,
 * `on('mcp_connections_data', …)`.
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { Proc, cleanup, isAlive, startApi, type Api } from './helpers/processes.js';
import { connectionOf, operationOf, writeSnapshot } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

const sockets = new Set<Socket>();

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  sockets.clear();
  await closeClients();
  await cleanup();
});

interface Watched {
  socket: Socket;
  /** Every `mcp_connections_data` payload, in order. */
  data: any[];
  /** Every event the server sent, of any name. */
  events: { name: string; args: unknown[] }[];
}

/** A socket on `/monitoring` that records everything it receives. */
function monitor(api: Api, options: Partial<ManagerOptions & SocketOptions> = {}): Watched {
  const socket = io(`${api.url}/monitoring`, { forceNew: true, reconnection: false, ...options });
  sockets.add(socket);
  const w: Watched = { socket, data: [], events: [] };
  socket.on('mcp_connections_data', (d) => w.data.push(d));
  socket.onAny((name: string, ...args: unknown[]) => w.events.push({ name, args }));
  return w;
}

function connected(socket: Socket): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

function refused(socket: Socket): Promise<Error & { data?: { code: string; message: string } }> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('connected, expected a refusal')));
    socket.once('connect_error', resolve);
  });
}

function subscribe(socket: Socket, ...args: unknown[]): Promise<any> {
  return socket.timeout(10_000).emitWithAck('subscribe_mcp_connections', ...args);
}

describe('socket.io /monitoring', () => {
  it("works with the users' snippet: ack, data at once, and on every change", async () => {
    const api = await startApi();
    // The snippet as users have it (reconnecting client, no options).
    const socket = io(`${api.url}/monitoring`);
    sockets.add(socket);
    const data: any[] = [];
    socket.on('mcp_connections_data', (d) => data.push(d));
    const ack = await subscribe(socket, { serverId: 'default' });
    expect(ack).toEqual({ status: 'subscribed', room: 'mcp_connections_default', serverId: 'default', timestamp: expect.any(String) });
    expect(new Date(ack.timestamp).toISOString()).toBe(ack.timestamp);

    const first = await waitFor(() => data[0], { what: 'the first mcp_connections_data' });
    expect(first).toMatchObject({ serverId: 'default', activeConnections: 0, totalConnections: 0, connections: [], stale: false });
    expect(new Date(first.timestamp).toISOString()).toBe(first.timestamp);
    // {timestamp, ...stats}: every field GET /api/mcp/connections has.
    const rest = (await api.json('/api/mcp/connections')).body;
    expect(Object.keys(first).sort()).toEqual([...Object.keys(rest), 'timestamp'].sort());

    const c = await connectClient(await api.mcpUrl(), { name: 'sio-client', version: '0.0.7', userAgent: 'sio-agent/1' });
    const withClient = await waitFor(() => data.find((d) => d.activeConnections === 1), { what: 'the connection pushed' });
    expect(withClient.connections[0]).toMatchObject({
      sessionId: c.sessionId,
      clientIP: '127.0.0.1',
      userAgent: 'sio-agent/1',
      clientInfo: { name: 'sio-client', version: '0.0.7' },
    });
    expect(withClient.totalConnections).toBe(1);

    const seen = data.length;
    await c.terminate();
    const after = await waitFor(() => data.slice(seen).find((d) => d.activeConnections === 0), { what: 'the disconnect pushed' });
    expect(after).toMatchObject({ connections: [], totalConnections: 1 });
    // Every payload is of the subscribed server and newer than the one before.
    expect(data.every((d) => d.serverId === 'default')).toBe(true);
    expect(data.every((d, i) => i === 0 || d.pid !== data[i - 1].pid || d.seq >= data[i - 1].seq)).toBe(true);
  });

  it('sends nothing to a socket that has not subscribed (or has unsubscribed); no serverId means the default server', async () => {
    const api = await startApi();
    const silent = monitor(api);
    const leaver = monitor(api);
    const sub = monitor(api);
    await Promise.all([connected(silent.socket), connected(leaver.socket)]);

    // No payload at all: the default server.
    expect(await subscribe(sub.socket)).toMatchObject({ status: 'subscribed', room: 'mcp_connections_default' });
    expect(await subscribe(leaver.socket, {})).toMatchObject({ status: 'subscribed', room: 'mcp_connections_default' });
    await waitFor(() => leaver.data.length > 0, { what: 'the leaver to get data' });
    const unack = await leaver.socket.timeout(10_000).emitWithAck('unsubscribe_mcp_connections', { serverId: 'default' });
    expect(unack).toMatchObject({ status: 'unsubscribed', room: 'mcp_connections_default' });
    const leaverSeen = leaver.data.length;

    const c = await connectClient(await api.mcpUrl(), { name: 'quiet' });
    await waitFor(() => sub.data.find((d) => d.activeConnections === 1 && d.connections[0].sessionId === c.sessionId), { what: 'the subscriber to see the session' });
    await c.terminate();
    await waitFor(() => sub.data.at(-1)?.activeConnections === 0, { what: 'the subscriber to see it end' });

    expect(silent.socket.connected).toBe(true);
    expect(silent.events).toEqual([]);
    expect(leaver.data.length).toBe(leaverSeen);
  });

  it('keeps one room per server id', async () => {
    const api = await startApi();
    const other = new Proc(['server', '--mcp-port', '0', '--state-dir', api.stateDir, '--server-id', 'other', '--heartbeat-ms', '500']);
    const otherUrl = await waitFor(async () => {
      const list = (await api.json('/api/mcp/servers')).body.servers as { serverId: string; snapshotStatus: string; mcpUrl: string }[];
      return list.find((s) => s.serverId === 'other' && s.snapshotStatus === 'running')?.mcpUrl;
    }, { what: 'the other server in the API' });

    const onDefault = monitor(api);
    const onOther = monitor(api);
    const onBoth = monitor(api);
    expect(await subscribe(onOther.socket, { serverId: 'other' })).toMatchObject({ status: 'subscribed', room: 'mcp_connections_other' });
    expect(await subscribe(onDefault.socket, { serverId: 'default' })).toMatchObject({ room: 'mcp_connections_default' });
    await subscribe(onBoth.socket, { serverId: 'default' });
    await subscribe(onBoth.socket, { serverId: 'other' });

    const c = await connectClient(otherUrl, { name: 'to-other' });
    const pushed = await waitFor(() => onOther.data.find((d) => d.activeConnections === 1), { what: 'the other room to get the session' });
    expect(pushed).toMatchObject({ serverId: 'other', connections: [{ sessionId: c.sessionId }] });
    await waitFor(() => onBoth.data.some((d) => d.serverId === 'other' && d.activeConnections === 1), { what: 'the socket in both rooms to get it' });
    await waitFor(() => onDefault.data.length >= 2, { what: 'the default room to get its heartbeats' });

    expect(new Set(onDefault.data.map((d) => d.serverId))).toEqual(new Set(['default']));
    expect(new Set(onOther.data.map((d) => d.serverId))).toEqual(new Set(['other']));
    expect(new Set(onBoth.data.map((d) => d.serverId))).toEqual(new Set(['default', 'other']));
    await other.stop();
  });

  it('pushes each connection with its era and last method, and the operations', async () => {
    const api = await startApi();
    const modern = connectionOf('m-00000000000000aa', { era: 'modern', protocolVersion: '2026-07-28', lastMethod: 'tools/call' });
    const legacy = connectionOf('5b1d1f0e-0000-4000-8000-000000000001', { era: 'legacy', lastMethod: 'tools/list' });
    await writeSnapshot(api.stateDir, 'ext', { connections: [modern, legacy], operations: [operationOf('tools/call', 'echo', [0.01])] });
    await waitFor(async () => (await api.json('/api/mcp/servers/ext/connections')).status === 200, { what: 'the external server' });
    const w = monitor(api);
    expect(await subscribe(w.socket, { serverId: 'ext' })).toMatchObject({ status: 'subscribed', room: 'mcp_connections_ext' });
    const first = await waitFor(() => w.data[0], { what: 'the data of ext' });
    expect(first.connections.map((c: { era: string; lastMethod: string }) => [c.era, c.lastMethod])).toEqual([['modern', 'tools/call'], ['legacy', 'tools/list']]);
    expect(first.operations).toEqual([expect.objectContaining({ method: 'tools/call', name: 'echo', count: 1, errors: 0 })]);
    // A new snapshot: the modern client went quiet and left.
    await writeSnapshot(api.stateDir, 'ext', { connections: [legacy], operations: [operationOf('tools/call', 'echo', [0.01, 0.02])] });
    const next = await waitFor(() => w.data.find((d) => d.activeConnections === 1), { what: 'the next snapshot pushed' });
    expect(next.connections).toEqual([expect.objectContaining({ sessionId: legacy.sessionId, era: 'legacy' })]);
    expect(next.operations[0].count).toBe(2);
  });

  it('answers a subscribe to an unknown or invalid server with an error', async () => {
    const api = await startApi();
    const w = monitor(api);
    expect(await subscribe(w.socket, { serverId: 'nope' })).toMatchObject({ status: 'error', error: { code: 'unknown_server' } });
    expect(await subscribe(w.socket, { serverId: '../etc' })).toMatchObject({ status: 'error', error: { code: 'bad_server_id' } });
    expect(await subscribe(w.socket, { serverId: 42 })).toMatchObject({ status: 'error', error: { code: 'bad_server_id' } });
    // Without an ack callback, the error comes as an event.
    w.socket.emit('subscribe_mcp_connections', { serverId: 'nope' });
    const ev = await waitFor(() => w.events.find((e) => e.name === 'mcp_connections_error'), { what: 'the error event' });
    expect(ev.args[0]).toMatchObject({ status: 'error', error: { code: 'unknown_server' } });
    expect(w.data).toEqual([]);
  });

  it('honours --token: auth.token or an Authorization header, refused otherwise', async () => {
    const api = await startApi({ args: ['--token', 's3cret'] });
    const none = await refused(monitor(api).socket);
    expect(none.message).toBe('unauthorized');
    expect(none.data).toMatchObject({ code: 'unauthorized' });
    const wrong = await refused(monitor(api, { auth: { token: 'guess' } }).socket);
    expect(wrong.data).toMatchObject({ code: 'unauthorized', message: 'Wrong token' });
    // The default namespace is guarded too.
    const main = io(api.url, { forceNew: true, reconnection: false });
    sockets.add(main);
    expect((await refused(main)).message).toBe('unauthorized');

    const byAuth = monitor(api, { auth: { token: 's3cret' } });
    expect(await subscribe(byAuth.socket, { serverId: 'default' })).toMatchObject({ status: 'subscribed' });
    await waitFor(() => byAuth.data[0], { what: 'data with the token' });
    const byHeader = monitor(api, { extraHeaders: { Authorization: 'Bearer s3cret' } });
    expect(await subscribe(byHeader.socket)).toMatchObject({ status: 'subscribed' });
  });

  it('refuses browser pages of other origins when there is no token', async () => {
    const api = await startApi();
    const handshake = (origin: string) => fetch(`${api.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: origin } });
    expect((await handshake('http://evil.example')).status).toBe(403);
    expect((await handshake('null')).status).toBe(403);
    expect((await handshake(api.url)).status).toBe(200);
  });

  it('tells subscribers when the server hangs and recovers, with no new snapshot to carry it', async () => {
    const api = await startApi({ args: ['--heartbeat-ms', '200'] });
    const pid = await api.childPid();
    const before = monitor(api);
    await subscribe(before.socket);
    await waitFor(() => before.data[0]?.stale === false, { what: 'fresh data' });
    process.kill(pid, 'SIGSTOP');
    try {
      const stale = await waitFor(() => before.data.find((d) => d.stale === true), { what: 'stale pushed' });
      expect(stale.pid).toBe(pid);
      // Subscribing now still gets data at once, though the writer writes nothing.
      const late = monitor(api);
      await subscribe(late.socket);
      const first = await waitFor(() => late.data[0], { what: 'data at once while hung' });
      expect(first).toMatchObject({ stale: true, pid, seq: stale.seq });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const seen = before.data.length;
    await waitFor(() => before.data.slice(seen).find((d) => d.stale === false), { what: 'fresh again' });
  });

  it('disconnects subscribers at shutdown and exits cleanly', async () => {
    const api = await startApi();
    const pid = await api.childPid();
    const w = monitor(api);
    await subscribe(w.socket);
    await waitFor(() => w.data[0], { what: 'data' });
    const disconnected = new Promise<string>((resolve) => w.socket.once('disconnect', resolve));
    const exit = await api.proc.stop('SIGTERM');
    expect(exit.code).toBe(0);
    expect(await disconnected).toMatch(/disconnect|close/);
    expect(isAlive(pid)).toBe(false);
  });
});
