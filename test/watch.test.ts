/**
 * `mcp-monitor watch` from outside: the built bin over a state directory that a standalone
 * `mcp-monitor server` writes. It spawns nothing, every server is `external`, and it serves the
 * routes, streams and metrics of `start`; supervisor control answers 409; SIGTERM ends it
 * (exit 0) and leaves the server running.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STATE_DIR_MARKER } from '../shared/user-state-dir.js';
import { connectClient, closeClients } from './helpers/mcp-client.js';
import { cleanup, isAlive, makeStateDir, Proc, run } from './helpers/processes.js';
import { startServer } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

/** Starts `watch` on port 0 over `stateDir`; resolves when it listens. */
async function startWatch(stateDir: string, args: string[] = []) {
  const proc = new Proc(['watch', '--port', '0', '--state-dir', stateDir, ...args]);
  const line = await proc.waitForLog((l) => l.msg === 'API listening');
  const url = `http://127.0.0.1:${line.port}`;
  return { proc, url };
}

/** The first SSE `snapshot` frame of `res` whose data passes `pred`. */
async function sseSnapshot(res: Response, pred: (data: any) => boolean): Promise<{ id: string; data: any }> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the stream ended');
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const id = /^id: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (/^event: snapshot$/m.test(frame) && id && data && pred(JSON.parse(data))) {
        await reader.cancel();
        return { id, data: JSON.parse(data) };
      }
    }
  }
}

describe('mcp-monitor watch', () => {
  it('serves a standalone server as external: servers, connections, SSE, metrics, readyz; 409 for control; SIGTERM leaves the server running', async () => {
    const stateDir = await makeStateDir();
    const server = await startServer({ stateDir, serverId: 'solo' });
    const watch = await startWatch(stateDir);
    expect(watch.proc.logs()[0]).toMatchObject({ stateDir, stateDirFrom: 'flag', servers: 0 });
    // Nothing spawned: its log never says so.
    expect(watch.proc.logs().some((l) => l.msg === 'MCP child spawned')).toBe(false);

    const ready = await fetch(`${watch.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, servers: [] });

    const summary = await waitFor(async () => {
      const body = (await (await fetch(`${watch.url}/api/mcp/servers`)).json()) as any;
      return body.servers.find((s: any) => s.serverId === 'solo' && !s.stale);
    }, { what: 'the standalone server listed' });
    expect(summary).toMatchObject({ serverId: 'solo', status: 'external', pid: server.proc.pid, restarts: null, mcpUrl: server.url });

    const c = await connectClient(server.url, { name: 'watched-client', version: '1.2.3' });
    await c.client.listTools();
    const conn = await waitFor(async () => {
      const r = await fetch(`${watch.url}/api/mcp/servers/solo/connections/${c.sessionId}`);
      return r.status === 200 ? ((await r.json()) as any) : undefined;
    }, { what: 'the connection through watch' });
    expect(conn).toMatchObject({ sessionId: c.sessionId, clientInfo: { name: 'watched-client', version: '1.2.3' }, transport: 'http' });

    const ac = new AbortController();
    const sse = await sseSnapshot(await fetch(`${watch.url}/api/mcp/events?serverId=solo`, { signal: ac.signal }), (d) => d.activeConnections === 1);
    expect(sse.id).toMatch(new RegExp(`^solo:${server.proc.pid}:\\d+$`));
    ac.abort();

    const metrics = await (await fetch(`${watch.url}/metrics`)).text();
    expect(metrics).toMatch(/^mcp_sessions_active\{server_id="solo"\} 1$/m);

    for (const action of ['restart', 'stop', 'start']) {
      const r = await fetch(`${watch.url}/api/mcp/servers/solo/${action}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
      expect(r.status).toBe(409);
      expect(((await r.json()) as any).error.code).toBe('external_server');
    }

    expect(await watch.proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(isAlive(server.proc.pid)).toBe(true);
    await c.client.listTools();
  });

  it('sees a server that starts after it, in a state directory it made (with the marker)', async () => {
    const base = await makeStateDir();
    const stateDir = path.join(base, 'later');
    const watch = await startWatch(stateDir);
    expect((await fetch(`${watch.url}/readyz`)).status).toBe(200);
    expect((await lstat(path.join(stateDir, STATE_DIR_MARKER))).isFile()).toBe(true);
    expect(((await (await fetch(`${watch.url}/api/mcp/servers`)).json()) as any).servers).toEqual([]);
    await startServer({ stateDir, serverId: 'late' });
    await waitFor(async () => ((await (await fetch(`${watch.url}/api/mcp/servers`)).json()) as any).servers.find((s: any) => s.serverId === 'late' && s.status === 'external'), { what: 'the late server' });
    expect((await run(['status', '--state-dir', stateDir])).code).toBe(0);
  });

  it('--help lists its settings; a bad flag or a child setting exits 2 with one line', async () => {
    const help = await run(['watch', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--port', '--host', '--token', '--allowed-hosts', '--state-dir']) expect(help.stdout).toContain(flag);
    expect(help.stdout).not.toContain('--mcp-port');
    for (const args of [['--nope'], ['--mcp-port', '0'], ['--port', '70000'], ['--token', 'a b']]) {
      const r = await run(['watch', ...args, '--state-dir', await makeStateDir()]);
      expect(r.code).toBe(2);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^mcp-monitor watch: /);
    }
  });

  it('--token guards its routes but the probes', async () => {
    const stateDir = await makeStateDir();
    const watch = await startWatch(stateDir, ['--token', 'sekrit']);
    expect((await fetch(`${watch.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${watch.url}/api/mcp/servers`)).status).toBe(401);
    expect((await fetch(`${watch.url}/api/mcp/servers`, { headers: { Authorization: 'Bearer sekrit' } })).status).toBe(200);
  });
});
