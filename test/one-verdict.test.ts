/**
 * The API and the CLI judge a writer alike (shared/verdict.ts): after a SIGKILL of a server the
 * API did not spawn, `GET /api/mcp/servers` says stale within a couple of seconds, as
 * `mcp-monitor status` does at once, not three heartbeats later.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, run, startApi } from './helpers/processes.js';
import { startServer } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(cleanup);

describe('one verdict for the API and the CLI', () => {
  it('a SIGKILLed external writer with a 10 s heartbeat is stale for both within seconds', async () => {
    const api = await startApi();
    const ext = await startServer({ stateDir: api.stateDir, serverId: 'ext', heartbeatMs: 10_000 });
    const row = async () => (await api.json('/api/mcp/servers')).body.servers.find((s: { serverId: string }) => s.serverId === 'ext');
    await waitFor(async () => (await row())?.snapshotStatus === 'running', { what: 'the external server listed' });
    expect((await row()).stale).toBe(false);

    ext.proc.child.kill('SIGKILL');
    await ext.proc.exited;
    const status = await run(['status', '--state-dir', api.stateDir, '--server-id', 'ext']);
    expect(status.code).toBe(4);
    expect(status.stdout + status.stderr).toMatch(/stale/);
    // Three heartbeats would be 30 s: the pid gone is what both see.
    const t0 = Date.now();
    await waitFor(async () => (await row())?.stale === true, { timeout: 5000, what: 'the API to say stale' });
    expect(Date.now() - t0).toBeLessThan(5000);
    const metrics = await (await api.fetch('/metrics')).text();
    expect(metrics).toMatch(/mcp_child_up\{server_id="ext"\} 0/);
  });
});
