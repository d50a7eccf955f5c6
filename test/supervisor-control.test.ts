/**
 * The routes that act (api/routes/control.ts): supervisor control of spawned servers (restart,
 * stop, start; JSON only; 409 for an external server) and ending a session through the control
 * directory, against a real `mcp-monitor start --config` and real children.
 *
 * The request file is checked while the child is paused (SIGSTOP), so that the test sees what
 * the API wrote before the child carries it out; then, running again, the child ends the session.
 */
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { cleanup, isAlive, makeStateDir, startApi, type Api } from './helpers/processes.js';
import { startServer } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const blockers: net.Server[] = [];
afterEach(async () => {
  await closeClients();
  await closeV2Clients();
  await cleanup();
  await Promise.all(blockers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const TOKEN = 'control-test-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const JSON_POST = { method: 'POST', headers: { ...AUTH, 'Content-Type': 'application/json' }, body: '{}' };

async function startFleet(servers: unknown[]): Promise<Api> {
  const file = path.join(await makeStateDir(), 'config.json');
  await writeFile(file, JSON.stringify({ servers }), { mode: 0o600 });
  return startApi({ config: file, waitReady: false, env: { MCP_MONITOR_TOKEN: TOKEN } });
}

async function serverWhen(api: Api, id: string, pred: (s: any) => boolean, what: string): Promise<any> {
  return waitFor(async () => {
    const s = ((await api.json('/api/mcp/servers', { headers: AUTH })).body.servers as any[]).find((x) => x.serverId === id);
    return s && pred(s) ? s : undefined;
  }, { timeout: 30_000, what });
}

const running = (s: any) => s.status === 'running' && !s.stale;

describe('supervisor control over REST', () => {
  it('restarts, stops and starts a server; autostart false waits for a start; readyz follows what is wanted', async () => {
    const api = await startFleet([{ id: 'a', mcpPort: 0, heartbeatMs: 300 }, { id: 'b', mcpPort: 0, heartbeatMs: 300, autostart: false }]);
    const a1 = await serverWhen(api, 'a', running, 'a running');
    // b is listed, stopped, never spawned; /readyz does not wait for it.
    expect(await serverWhen(api, 'b', () => true, 'b listed')).toMatchObject({ status: 'stopped', pid: null, restarts: 0 });
    expect((await api.fetch('/readyz')).status).toBe(200);

    const restart = await api.json('/api/mcp/servers/a/restart', JSON_POST);
    expect(restart).toEqual({ status: 202, body: { serverId: 'a', status: 'starting' } });
    const a2 = await serverWhen(api, 'a', (s) => running(s) && s.pid !== a1.pid, 'a running again');
    expect(a2.restarts).toBe(0);
    expect(isAlive(a1.pid)).toBe(false);

    const stop = await api.json('/api/mcp/servers/a/stop', JSON_POST);
    expect(stop).toEqual({ status: 202, body: { serverId: 'a', status: 'stopped' } });
    // Answered once the child has exited.
    expect(isAlive(a2.pid)).toBe(false);
    expect((await api.json('/api/mcp/servers/a', { headers: AUTH })).body).toMatchObject({ status: 'stopped', pid: null, restarts: 0 });
    await api.proc.waitForLog((l) => l.msg === 'MCP child exited' && l.serverId === 'a' && l.expected === true && l.code === 0);
    const readyWhileStopped = await api.json('/readyz');
    expect(readyWhileStopped.status).toBe(200);
    expect(readyWhileStopped.body.servers).toEqual([]);

    // Stopped stays stopped: start b and let it run a few heartbeats, far past a's first backoff.
    expect((await api.json('/api/mcp/servers/b/start', JSON_POST)).body).toEqual({ serverId: 'b', status: 'starting' });
    const b = await serverWhen(api, 'b', running, 'b running');
    const seq = (await api.json('/api/mcp/servers/b/connections', { headers: AUTH })).body.seq as number;
    await waitFor(async () => (await api.json('/api/mcp/servers/b/connections', { headers: AUTH })).body.seq >= seq + 5, { what: 'five heartbeats of b' });
    expect((await api.json('/api/mcp/servers/a', { headers: AUTH })).body).toMatchObject({ status: 'stopped', pid: null });
    expect(api.proc.logs().filter((l) => l.msg === 'MCP child spawned' && l.serverId === 'a')).toHaveLength(2);
    expect((await api.json('/readyz')).body.servers.map((s: any) => s.serverId)).toEqual(['b']);

    // Start again; starting a running server changes nothing.
    expect((await api.json('/api/mcp/servers/a/start', JSON_POST)).body).toEqual({ serverId: 'a', status: 'starting' });
    const a3 = await serverWhen(api, 'a', running, 'a running after start');
    expect(a3.restarts).toBe(0);
    expect((await api.json('/api/mcp/servers/a/start', JSON_POST)).body).toEqual({ serverId: 'a', status: 'running' });
    expect((await api.json('/api/mcp/servers/a', { headers: AUTH })).body.pid).toBe(a3.pid);
    expect((await api.json('/api/mcp/servers/b', { headers: AUTH })).body.pid).toBe(b.pid);
    await waitFor(async () => (await api.fetch('/readyz')).status === 200, { what: 'ready with a and b' });
  });

  it('starts a fatal server again', async () => {
    const blocker = net.createServer();
    blockers.push(blocker);
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const api = await startFleet([{ id: 'busy', mcpPort: port, heartbeatMs: 300 }]);
    await serverWhen(api, 'busy', (s) => s.status === 'fatal', 'busy fatal');
    expect((await api.fetch('/readyz')).status).toBe(503);
    await new Promise((r) => blocker.close(r));
    expect((await api.json('/api/mcp/servers/busy/start', JSON_POST)).body).toEqual({ serverId: 'busy', status: 'starting' });
    const s = await serverWhen(api, 'busy', running, 'busy running');
    expect(s.mcpUrl).toBe(`http://127.0.0.1:${port}/mcp`);
  });

  it('wants JSON and the token, knows the server, and leaves external servers alone', async () => {
    const api = await startFleet([{ id: 'a', mcpPort: 0, heartbeatMs: 300 }]);
    const a = await serverWhen(api, 'a', running, 'a running');
    for (const headers of [AUTH, { ...AUTH, 'Content-Type': 'text/plain' }, { ...AUTH, 'Content-Type': 'application/x-www-form-urlencoded' }]) {
      const r = await api.json('/api/mcp/servers/a/stop', { method: 'POST', headers, body: 'x' });
      expect(r.status).toBe(415);
      expect(r.body.error.code).toBe('unsupported_media_type');
    }
    expect((await api.json('/api/mcp/servers/a/restart', { method: 'POST', headers: { 'Content-Type': 'application/json; charset=utf-8' } })).status).toBe(401);
    expect((await api.json('/api/mcp/servers/nope/restart', JSON_POST))).toMatchObject({ status: 404, body: { error: { code: 'unknown_server' } } });
    expect((await api.json('/api/mcp/servers/bad%20id/restart', JSON_POST))).toMatchObject({ status: 400, body: { error: { code: 'bad_server_id' } } });
    expect((await api.json('/api/mcp/servers/a/reboot', JSON_POST)).status).toBe(404);

    const ext = await startServer({ stateDir: api.stateDir, serverId: 'ext' });
    await serverWhen(api, 'ext', (s) => s.status === 'external', 'ext listed');
    for (const action of ['restart', 'stop', 'start']) {
      const r = await api.json(`/api/mcp/servers/ext/${action}`, JSON_POST);
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('external_server');
    }
    expect(isAlive(ext.proc.pid)).toBe(true);
    // None of it touched a.
    expect((await api.json('/api/mcp/servers/a', { headers: AUTH })).body).toMatchObject({ status: 'running', pid: a.pid });
  });
});

describe('ending a session over REST', () => {
  it('writes the request into the control directory, or says why not', async () => {
    // A long heartbeat: the snapshot stays fresh while the child is paused below.
    const api = await startFleet([{ id: 'a', mcpPort: 0, heartbeatMs: 60_000 }, { id: 'b', mcpPort: 0, heartbeatMs: 300 }]);
    const a = await serverWhen(api, 'a', running, 'a running');
    const legacy = await connectClient(a.mcpUrl, { name: 'to-end' });
    const modern = await connectV2(a.mcpUrl, { name: 'sessionless' });
    await modern.client.listTools();
    const conns = await waitFor(async () => {
      const r = await api.json('/api/mcp/servers/a/connections', { headers: AUTH });
      return r.body.activeConnections === 2 ? r.body.connections : undefined;
    }, { what: 'both clients listed' });
    const modernId = conns.find((c: any) => c.era === 'modern').sessionId as string;
    const control = path.join(api.stateDir, 'a', 'control');

    process.kill(a.pid, 'SIGSTOP');
    try {
      // No control directory: nobody would read the request.
      await rm(control, { recursive: true, force: true });
      const none = await api.json(`/api/mcp/connections/${legacy.sessionId}`, { method: 'DELETE', headers: AUTH });
      expect(none.status).toBe(409);
      expect(none.body.error.code).toBe('no_control_dir');
      expect(none.body.error.message).toContain(control);

      await mkdir(control, { mode: 0o700 });
      // No Content-Type needed; the token is.
      expect((await api.fetch(`/api/mcp/connections/${legacy.sessionId}`, { method: 'DELETE' })).status).toBe(401);
      const ok = await api.json(`/api/mcp/servers/a/connections/${legacy.sessionId}`, { method: 'DELETE', headers: AUTH });
      expect(ok).toEqual({ status: 202, body: { status: 'terminating', serverId: 'a', sessionId: legacy.sessionId } });
      const files = await readdir(control);
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^[A-Za-z0-9_-]{1,100}\.json$/);
      const file = path.join(control, files[0]!);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const request = JSON.parse(await readFile(file, 'utf8'));
      expect(request).toEqual({ action: 'end-session', sessionId: legacy.sessionId, requestedAt: expect.any(String), by: 'api' });
      expect(new Date(request.requestedAt).toISOString()).toBe(request.requestedAt);

      // The default server is the first of the list: the short route names a's sessions.
      const again = await api.json(`/api/mcp/connections/${legacy.sessionId}`, { method: 'DELETE', headers: AUTH });
      expect(again.status).toBe(202);
      expect(await readdir(control)).toHaveLength(2);

      const sessionless = await api.json(`/api/mcp/servers/a/connections/${modernId}`, { method: 'DELETE', headers: AUTH });
      expect(sessionless.status).toBe(409);
      expect(sessionless.body.error.code).toBe('sessionless');
      expect((await api.json('/api/mcp/servers/a/connections/no-such-session', { method: 'DELETE', headers: AUTH })).body.error.code).toBe('unknown_session');
      expect((await api.json(`/api/mcp/servers/b/connections/${legacy.sessionId}`, { method: 'DELETE', headers: AUTH })).status).toBe(404);
      expect((await api.json(`/api/mcp/servers/zz/connections/${legacy.sessionId}`, { method: 'DELETE', headers: AUTH })).body.error.code).toBe('unknown_server');
      expect(await readdir(control)).toHaveLength(2);
    } finally {
      process.kill(a.pid, 'SIGCONT');
    }

    // Running again, the child carries the requests out: the session leaves the list, the
    // journal says who ended it, its client is told the session is gone; both files are used up.
    await waitFor(async () => (await api.json(`/api/mcp/servers/a/connections/${legacy.sessionId}`, { headers: AUTH })).status === 404, { what: 'the session ended' });
    const journal = (await readFile(path.join(api.stateDir, 'a', 'events.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(journal.filter((e) => e.event === 'disconnect' && e.sessionId === legacy.sessionId)).toEqual([expect.objectContaining({ reason: 'terminated', by: 'api' })]);
    await expect(legacy.client.listTools()).rejects.toMatchObject({ code: 404 });
    await waitFor(async () => (await readdir(control)).length === 0, { what: 'the requests removed' });
    expect((await api.json('/api/mcp/servers/a/connections', { headers: AUTH })).body.connections.map((c: any) => c.sessionId)).toEqual([modernId]);
  });
});
