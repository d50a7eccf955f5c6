/**
 * `mcp-monitor status`: one line per server of a state directory, from real writers (on their
 * own and under the API), with every exit code.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, makeStateDir, run, startApi } from './helpers/processes.js';
import { startServer, waitSnap } from './helpers/server-process.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

const ENTRY_KEYS = ['serverId', 'status', 'pid', 'restarts', 'startedAt', 'heartbeatAgeMs', 'activeConnections', 'activeByEra', 'totalConnections', 'mcpUrl', 'snapshotStatus', 'stale', 'snapshotError'];

describe('status', () => {
  it('lists every server: running ones exit 0, a stopped one makes it 3', async () => {
    const a = await startServer({ serverId: 'alpha' });
    const b = await startServer({ serverId: 'beta', stateDir: a.stateDir });
    await connectClient(b.url, { name: 'one' });
    await connectClient(b.url, { name: 'two' });
    await waitSnap(a.stateDir, (s) => s.activeConnections === 2, 'two sessions on beta', 'beta');

    const r = await run(['status', '--state-dir', a.stateDir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^SERVER\s+STATUS\s+PID\s+STARTED\s+UPTIME\s+ACTIVE\s+MODERN\s+TOTAL\s+HEARTBEAT\s+MCP URL$/);
    expect(lines[1]).toMatch(new RegExp(`^alpha\\s+running\\s+${a.proc.pid}\\s+\\S+Z\\s+\\S+\\s+0\\s+0\\s+0\\s+\\S+\\s+${a.url}$`));
    expect(lines[2]).toMatch(new RegExp(`^beta\\s+running\\s+${b.proc.pid}\\s+\\S+Z\\s+\\S+\\s+2\\s+0\\s+2\\s+`));
    expect(lines).toHaveLength(3);

    const j = JSON.parse((await run(['status', '--state-dir', a.stateDir, '--json'])).stdout);
    expect(j.servers.map((s: { serverId: string }) => s.serverId)).toEqual(['alpha', 'beta']);
    for (const s of j.servers) for (const k of ENTRY_KEYS) expect(s).toHaveProperty(k);
    expect(j.servers[1]).toMatchObject({ status: 'running', pid: b.proc.pid, restarts: null, activeConnections: 2, activeByEra: { legacy: 2, modern: 0 }, totalConnections: 2, mcpUrl: b.url, snapshotStatus: 'running', stale: false, snapshotError: null });

    await a.proc.stop('SIGTERM');
    const stopped = await run(['status', '--state-dir', a.stateDir]);
    expect(stopped.code).toBe(3);
    expect(stopped.stdout).toMatch(new RegExp(`alpha\\s+stopped\\s+${a.proc.pid}\\s+\\S+\\s+-\\s+0\\s+0\\s+0`));
    expect((await run(['status', '--state-dir', a.stateDir, '--server-id', 'beta'])).code).toBe(0);
  });

  it('a killed writer is stale (exit 4, why on stderr); a corrupt snapshot is invalid', async () => {
    const a = await startServer({ serverId: 'alpha' });
    await a.proc.stop('SIGKILL');
    await mkdir(path.join(a.stateDir, 'broken'));
    await writeFile(path.join(a.stateDir, 'broken', 'snapshot.json'), '{"schema":"mcp-monitor/snapshot@1"}');
    const r = await run(['status', '--state-dir', a.stateDir]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`alpha\\s+stale\\s+${a.proc.pid}`));
    expect(r.stdout).toMatch(/broken\s+invalid\s+-/);
    const err = r.stderr.split('\n');
    expect(err).toHaveLength(2);
    // In server order.
    expect(err[1]).toMatch(/broken[/\\]snapshot\.json: invalid snapshot: serverId is missing/);
    expect(err[0]).toMatch(new RegExp(`alpha: stale since \\S+ \\(pid ${a.proc.pid} is not running`));
    const j = JSON.parse((await run(['status', '--state-dir', a.stateDir, '--json'])).stdout);
    expect(j.servers[0]).toMatchObject({ serverId: 'alpha', status: 'stale', stale: true });
    expect(j.servers[1]).toMatchObject({ serverId: 'broken', status: 'invalid', pid: null, snapshotError: expect.stringContaining('serverId is missing') });
  });

  it('works with the API running and after it stopped', async () => {
    const api = await startApi({ args: ['--heartbeat-ms', '1000'] });
    const pid = await api.childPid();
    const r = await run(['status', '--state-dir', api.stateDir, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).servers).toEqual([expect.objectContaining({ serverId: 'default', status: 'running', pid })]);
    await api.proc.stop('SIGTERM');
    const after = await run(['status', '--state-dir', api.stateDir]);
    expect(after.code).toBe(3);
    expect(after.stdout).toMatch(new RegExp(`default\\s+stopped\\s+${pid}`));
  });

  it('no state directory or no server: exit 4; bad usage: exit 2', async () => {
    const stateDir = await makeStateDir();
    const missing = await run(['status', '--state-dir', path.join(stateDir, 'absent')]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/^mcp-monitor status: \S+absent: no such state directory$/);
    const empty = await run(['status', '--state-dir', stateDir, '--json']);
    expect(empty.code).toBe(4);
    expect(JSON.parse(empty.stdout)).toEqual({ servers: [] });
    expect(empty.stderr).toMatch(/no server found/);
    for (const args of [['status', '--bogus'], ['status', 'extra'], ['status', '--server-id', '../x'], ['status', '--state-dir', '']]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    expect((await run(['status', '--help'])).code).toBe(0);
  });
});
