/**
 * What the API hands its children, seen where any local user can look: `/proc/<pid>/cmdline` of
 * a proxy child holds no upstream URL (it comes by the environment, and the child still
 * proxies); the `env` of a config's `command` server is not the child's own environment (it
 * travels as MCP_MONITOR_COMMAND_ENV); a config file holding secrets that others may read is
 * warned about at start.
 */
import { readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exposedSecrets, parseConfigText } from '../shared/config-file.js';
import { EVERYTHING, startEverythingHttp, stopEverythingHttp } from './helpers/everything-http.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, makeStateDir, startApi, type Api } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
  await stopEverythingHttp();
});

/** The entries of `GET /api/mcp/servers` by id, once every one of `ids` runs. */
async function runningServers(api: Api, ids: string[]): Promise<Record<string, any>> {
  return waitFor(async () => {
    const r = await api.json('/api/mcp/servers');
    const byId = Object.fromEntries((r.body.servers as any[]).map((s) => [s.serverId, s]));
    return ids.every((id) => byId[id]?.status === 'running' && !byId[id].stale && byId[id].mcpUrl) ? byId : undefined;
  }, { timeout: 30_000, what: `${ids.join(', ')} running` });
}

function environOf(pid: number): Record<string, string> {
  const text = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(text.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

describe('the children of start --config', () => {
  it('an upstream URL never on a child command line, a command server\'s env never in the child\'s own environment, a readable config warned of', async () => {
    const upstream = await startEverythingHttp();
    const secretUrl = `http://alice:hunter2@127.0.0.1:${upstream.port}/mcp?api_key=KEY123`;
    const dir = await makeStateDir();
    const config = path.join(dir, 'config.json');
    await writeFile(config, JSON.stringify({
      servers: [
        { id: 'remote', upstream: secretUrl, mcpPort: 0, heartbeatMs: 500 },
        { id: 'every', command: [process.execPath, EVERYTHING, 'stdio'], env: { NODE_OPTIONS: '--inspect=127.0.0.1:0', SECRETS_TEST_VAR: 'only-for-the-command' }, mcpPort: 0, heartbeatMs: 500 },
      ],
    }));
    await chmod(config, 0o644);
    const api = await startApi({ config, waitReady: false });

    const warn = await api.proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('config file'));
    expect(warn).toMatchObject({ level: 40, mode: '644', keys: ['servers[0].upstream'] });
    expect(warn.msg).toContain('chmod 600');
    expect(JSON.stringify(warn)).not.toContain('hunter2');

    const servers = await runningServers(api, ['remote', 'every']);
    const remoteCmd = readFileSync(`/proc/${servers.remote.pid}/cmdline`, 'utf8');
    expect(remoteCmd).toContain('server');
    expect(remoteCmd).not.toContain('hunter2');
    expect(remoteCmd).not.toContain('KEY123');
    expect(remoteCmd).not.toContain(`127.0.0.1:${upstream.port}`);
    expect(remoteCmd).not.toContain('--upstream');
    // It still proxies: a tool of the upstream answers through the child.
    const client = await connectClient(servers.remote.mcpUrl);
    const echo = await client.client.callTool({ name: 'echo', arguments: { message: 'through the proxy' } });
    expect((echo.content as any)[0].text).toContain('through the proxy');

    const env = environOf(servers.every.pid);
    expect(env.NODE_OPTIONS).toBeUndefined();
    expect(env.SECRETS_TEST_VAR).toBeUndefined();
    expect(JSON.parse(env.MCP_MONITOR_COMMAND_ENV!)).toEqual({ NODE_OPTIONS: '--inspect=127.0.0.1:0', SECRETS_TEST_VAR: 'only-for-the-command' });
    expect(environOf(servers.remote.pid).MCP_MONITOR_COMMAND_ENV).toBeUndefined();
  });

  it('a command server with no env gets MCP_MONITOR_COMMAND_ENV {}', async () => {
    const dir = await makeStateDir();
    const config = path.join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ servers: [{ id: 'every', command: [process.execPath, EVERYTHING, 'stdio'], mcpPort: 0, heartbeatMs: 500 }] }), { mode: 0o600 });
    const api = await startApi({ config, waitReady: false });
    const servers = await runningServers(api, ['every']);
    expect(environOf(servers.every.pid).MCP_MONITOR_COMMAND_ENV).toBe('{}');
  });
});

describe('exposedSecrets', () => {
  const doc = (o: object) => parseConfigText(JSON.stringify(o), '/x/config.json');
  const servers = [{ id: 'a', upstream: 'http://u:p@h:1/mcp', mcpPort: 0 }, { id: 'b', upstream: 'http://h:2/mcp?token=t', mcpPort: 0 }, { id: 'c', upstream: 'http://h:3/mcp', mcpPort: 0 }];

  it('names the token and the upstreams with credentials or a query when group or others may read the file', () => {
    expect(exposedSecrets({ ...doc({ token: 'tok', servers }), mode: 0o640 })).toEqual(['token', 'servers[0].upstream', 'servers[1].upstream']);
    expect(exposedSecrets({ ...doc({ servers }), mode: 0o604 })).toEqual(['servers[0].upstream', 'servers[1].upstream']);
  });

  it('says nothing of a file only its owner reads, or of one without secrets', () => {
    expect(exposedSecrets({ ...doc({ token: 'tok', servers }), mode: 0o600 })).toEqual([]);
    expect(exposedSecrets({ ...doc({ servers: [servers[2]] }), mode: 0o644 })).toEqual([]);
  });
});
