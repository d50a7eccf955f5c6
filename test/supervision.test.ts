/**
 * Supervision beyond a single crash: a hung child goes stale, a child that cannot start ends
 * `fatal`, and the child's own log lines reach the API's log.
 */
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, startApi } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

const servers: net.Server[] = [];
afterEach(async () => {
  await closeClients();
  await cleanup();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('supervision', () => {
  it('reports a hung child as stale, and fresh again once it resumes', async () => {
    const api = await startApi({ args: ['--heartbeat-ms', '200'] });
    const pid = await api.childPid();
    const c = await connectClient(await api.mcpUrl(), { name: 'before-hang' });
    await waitFor(async () => (await api.json('/api/mcp/connections')).body.activeConnections === 1);
    process.kill(pid, 'SIGSTOP');
    try {
      const h = await waitFor(async () => {
        const r = await api.json('/api/mcp/health');
        return r.status === 503 ? r : undefined;
      }, { what: 'health to fail on a stale snapshot' });
      expect(h.body.checks.snapshot.stale).toBe(true);
      const conns = await api.json('/api/mcp/connections');
      expect(conns.body).toMatchObject({ stale: true, activeConnections: 1 });
      expect((await api.fetch('/readyz')).status).toBe(503);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(async () => (await api.json('/api/mcp/health')).status === 200, { what: 'health to recover' });
    const after = await api.json('/api/mcp/connections');
    expect(after.body.stale).toBe(false);
    expect(after.body.connections[0].sessionId).toBe(c.sessionId);
  });

  it('gives up on a child that keeps failing to start (fatal), and health says so', async () => {
    const blocker = net.createServer();
    servers.push(blocker);
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const api = await startApi({ args: ['--mcp-port', String(port)], waitReady: false });
    const s = await waitFor(async () => {
      const x = (await api.json('/api/mcp/servers')).body.servers[0];
      return x?.status === 'fatal' ? x : undefined;
    }, { what: 'the child to be fatal', timeout: 30_000 });
    expect(s.restarts).toBe(4);
    const health = await api.json('/api/mcp/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ healthy: false, serverRunning: false });
    expect(health.body.checks.child.state).toBe('fatal');
    // The child's one-line reason reaches the API's log.
    expect(api.proc.logs().some((l) => l.msg === 'child output' && /port \d+ on 127\.0\.0\.1 is already in use \(--mcp-port\)/.test(String(l.line)))).toBe(true);
    // The API itself stays up.
    expect((await api.fetch('/livez')).status).toBe(200);
  });

  it('does not restart a child that rejects its settings', async () => {
    const entry = path.join(import.meta.dirname, 'fixtures', 'entry-not-a-factory.mjs');
    const api = await startApi({ args: ['--entry', entry], waitReady: false });
    const s = await waitFor(async () => {
      const x = (await api.json('/api/mcp/servers')).body.servers[0];
      return x?.status === 'fatal' ? x : undefined;
    }, { what: 'the child to be fatal' });
    expect(s.restarts).toBe(0);
    await api.proc.waitForLog((l) => /rejected its settings/.test(String(l.msg)));
  });

  it('relays the child\'s log lines into its own log', async () => {
    const api = await startApi();
    const line = await api.proc.waitForLog((l) => l.msg === 'MCP server listening');
    expect(line.childPid).toBe(await api.childPid());
    expect((line.child as { url: string }).url).toMatch(/\/mcp$/);
  });
});
