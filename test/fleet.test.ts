/**
 * `start --config` with real children of the three kinds: the built-in tools, a
 * user's `entry` and a stdio `command` (server-everything), each supervised alone, each with its
 * own connections route and SSE filter; the env of a `command` reaches its processes, the API's
 * token and the child settings' env vars do not; a SIGKILLed child is restarted alone.
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { ROOT, cleanup, isAlive, makeStateDir, run, startApi, type Api } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

const TOKEN = 'fleet-test-token';
const AUTH = { headers: { Authorization: `Bearer ${TOKEN}` } };
const ENTRY = path.join(ROOT, 'test', 'fixtures', 'entry-server.mjs');
const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

/** Writes `docOf(dir)` as `config.json` in a fresh directory `dir` and returns its path. */
async function writeConfig(docOf: (dir: string) => unknown): Promise<string> {
  const dir = await makeStateDir();
  const file = path.join(dir, 'config.json');
  await writeFile(file, JSON.stringify(docOf(dir), null, 2), { mode: 0o600 });
  return file;
}

/** The entries of `GET /api/mcp/servers` by id, once `pred` holds for them. */
async function serversWhen(api: Api, pred: (byId: Record<string, any>) => boolean, what: string): Promise<Record<string, any>> {
  return waitFor(async () => {
    const r = await api.json('/api/mcp/servers', AUTH);
    const byId = Object.fromEntries((r.body.servers as any[]).map((s) => [s.serverId, s]));
    return pred(byId) ? byId : undefined;
  }, { timeout: 30_000, what });
}

const running = (s: any) => s?.status === 'running' && !s.stale && s.mcpUrl;

/** The first SSE event of `/api/mcp/events?serverId=…`: its id and data. */
async function firstEvent(api: Api, serverId: string): Promise<{ id: string; data: any }> {
  const ac = new AbortController();
  const res = await api.fetch(`/api/mcp/events?serverId=${serverId}`, { ...AUTH, signal: ac.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`SSE ended: ${text}`);
      text += decoder.decode(value, { stream: true });
      const m = /id: (\S+)\ndata: (.*)\n\n/.exec(text);
      if (m) return { id: m[1]!, data: JSON.parse(m[2]!) };
    }
  } finally {
    ac.abort();
  }
}

describe('start --config with three backends', () => {
  it('supervises each server alone: listed, own routes and SSE, env to its command only, one SIGKILL restarts one', async () => {
    const config = await writeConfig((dir) => ({
      // The flags below win over these two.
      port: 3001,
      stateDir: './not-this-one',
      servers: [
        { id: 'tools', mcpPort: 0, heartbeatMs: 500 },
        // Relative to the file, as are the paths in the command: the children run in its directory.
        { id: 'calc', entry: path.relative(dir, ENTRY), mcpPort: 0, heartbeatMs: 500 },
        { id: 'every', command: [process.execPath, path.relative(dir, EVERYTHING), 'stdio'], env: { FLEET_TEST_VAR: 'hello "fleet" world' }, mcpPort: 0, heartbeatMs: 500 },
      ],
    }));
    const api = await startApi({
      config,
      waitReady: false,
      // With --config these are ignored: a child that read them would fail (no such entry, bad port).
      env: { MCP_MONITOR_TOKEN: TOKEN, MCP_MONITOR_ENTRY: '/nonexistent/entry.mjs', MCP_MONITOR_MCP_PORT: 'not-a-port', MCP_MONITOR_SERVER_ID: 'nope' },
    });
    expect(api.port).not.toBe(3001);

    const first = await serversWhen(api, (s) => ['tools', 'calc', 'every'].every((id) => running(s[id])), 'the three servers running');
    expect(Object.keys(first).sort()).toEqual(['calc', 'every', 'tools']);
    const pids = Object.fromEntries(Object.values(first).map((s: any) => [s.serverId, s.pid]));
    expect(new Set(Object.values(pids)).size).toBe(3);
    expect(Object.values(first).map((s: any) => s.restarts)).toEqual([0, 0, 0]);
    expect((await api.fetch('/readyz')).status).toBe(200);

    // The first server of the list answers the routes without a server id.
    expect((await api.json('/api/mcp/connections', AUTH)).body.serverId).toBe('tools');

    // One client on each: every server lists its own and no other.
    const clients = Object.fromEntries(await Promise.all(['tools', 'calc', 'every'].map(async (id) => [id, await connectClient(first[id].mcpUrl, { name: `client-of-${id}` })] as const)));
    for (const id of ['tools', 'calc', 'every']) {
      const conns = await waitFor(async () => {
        const r = await api.json(`/api/mcp/servers/${id}/connections`, AUTH);
        return r.body.activeConnections === 1 ? r.body : undefined;
      }, { what: `the client of ${id} listed` });
      expect(conns.connections.map((c: any) => c.sessionId)).toEqual([clients[id]!.sessionId]);
      expect(conns.backend.kind).toBe({ tools: 'builtin', calc: 'entry', every: 'command' }[id]);
      const ev = await firstEvent(api, id);
      expect(ev.id.startsWith(`${id}:`)).toBe(true);
      expect(ev.data.serverId).toBe(id);
    }
    expect((await api.json('/api/mcp/servers/calc/connections', AUTH)).body.backend.target).toBe(ENTRY);
    const sum = await clients.calc!.client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    expect((sum.content as any)[0].text).toBe('5');

    // The command's process has the server's env, and never the API's token.
    const env = await clients.every!.client.callTool({ name: 'get-env', arguments: {} });
    const seen = JSON.parse((env.content as any)[0].text);
    expect(seen.FLEET_TEST_VAR).toBe('hello "fleet" world');
    expect(seen.MCP_MONITOR_TOKEN).toBeUndefined();
    expect(seen.MCP_MONITOR_ENTRY).toBeUndefined();

    // SIGKILL of one child: only that one is restarted.
    process.kill(pids.calc!, 'SIGKILL');
    const after = await serversWhen(api, (s) => running(s.calc) && s.calc.pid !== pids.calc, 'calc restarted');
    expect(after.calc.restarts).toBe(1);
    expect(isAlive(pids.calc!)).toBe(false);
    for (const id of ['tools', 'every']) {
      expect(after[id]).toMatchObject({ status: 'running', pid: pids[id], restarts: 0 });
      expect(isAlive(pids[id]!)).toBe(true);
    }
    await api.proc.waitForLog((l) => l.msg === 'MCP child exited' && l.serverId === 'calc' && l.signal === 'SIGKILL' && l.expected === false);

    // Shutdown ends every child.
    await api.proc.stop();
    expect(api.proc.exitCode).toBe(0);
    for (const id of ['tools', 'calc', 'every']) expect(isAlive(after[id].pid)).toBe(false);
  });
});

describe('start --config: every view covers every server', () => {
  it('socket.io rooms, /metrics and the CLI over the state directory, each by server id', async () => {
    const config = await writeConfig(() => ({ servers: [{ id: 'north', mcpPort: 0, heartbeatMs: 500 }, { id: 'south', mcpPort: 0, heartbeatMs: 500 }] }));
    const api = await startApi({ config, waitReady: false, env: { MCP_MONITOR_TOKEN: TOKEN } });
    const first = await serversWhen(api, (s) => running(s.north) && running(s.south), 'both servers running');
    const c = await connectClient(first.south.mcpUrl, { name: 'southerner' });

    // socket.io: a room per server, named as the seed named it; each gets its own server's data.
    const socket = io(`${api.url}/monitoring`, { forceNew: true, reconnection: false, auth: { token: TOKEN } });
    try {
      const data: any[] = [];
      socket.on('mcp_connections_data', (d) => data.push(d));
      const acks = await Promise.all(['north', 'south'].map((serverId) => socket.timeout(10_000).emitWithAck('subscribe_mcp_connections', { serverId })));
      expect(acks.map((a: any) => [a.status, a.room])).toEqual([['subscribed', 'mcp_connections_north'], ['subscribed', 'mcp_connections_south']]);
      const south = await waitFor(() => data.find((d) => d.serverId === 'south' && d.activeConnections === 1), { what: 'south data with its client' });
      expect(south.connections.map((x: any) => x.sessionId)).toEqual([c.sessionId]);
      expect(data.filter((d) => d.serverId === 'north').every((d) => d.activeConnections === 0)).toBe(true);
    } finally {
      socket.close();
    }

    // /metrics: one series per server id.
    const metrics = await (await api.fetch('/metrics', AUTH)).text();
    expect(metrics).toMatch(/^mcp_sessions_active\{server_id="north"\} 0$/m);
    expect(metrics).toMatch(/^mcp_sessions_active\{server_id="south"\} 1$/m);
    expect(metrics).toMatch(/^mcp_child_up\{server_id="north"\} 1$/m);

    // The CLI reads the whole state directory, API or not.
    const status = await run(['status', '--json', '--state-dir', api.stateDir]);
    expect(status.code).toBe(0);
    const listed = JSON.parse(status.stdout).servers.map((x: any) => [x.serverId, x.activeConnections]);
    expect(listed).toEqual([['north', 0], ['south', 1]]);
  });
});

describe('start --config: starting many servers', () => {
  it('starts the children a few at a time (as many as cores), each waiting one said starting, never stopped', async () => {
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    const config = await writeConfig(() => ({ servers: ids.map((id) => ({ id, mcpPort: 0, heartbeatMs: 500 })) }));
    const api = await startApi({ config, waitReady: false, env: { MCP_MONITOR_TOKEN: TOKEN } });
    const seen = new Set<string>();
    await serversWhen(api, (s) => {
      for (const id of ids) seen.add(s[id]?.status);
      return ids.every((id) => running(s[id]));
    }, 'every server running');
    expect([...seen].filter((x) => x !== 'starting' && x !== 'running')).toEqual([]);

    // From the API's log: never more children starting at once than there are cores.
    const atOnce = availableParallelism();
    let starting = 0;
    let most = 0;
    for (const l of api.proc.logs()) {
      if (l.msg === 'MCP child spawned') most = Math.max(most, ++starting);
      else if (l.msg === 'ready' || l.msg === 'MCP child is not running yet') starting -= 1;
    }
    expect(api.proc.logs().filter((l) => l.msg === 'MCP child spawned').map((l) => l.serverId).sort()).toEqual(ids);
    expect(most).toBeLessThanOrEqual(atOnce);
  });
});
