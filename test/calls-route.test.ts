/**
 * `GET /api/mcp/servers/:serverId/calls` of the built API (`watch` over a state directory whose
 * server's files are written by hand): the newest lines, newest last, across rotated files;
 * `limit`, `since` (inclusive), `sessionId`, `name`; 400 for bad values, 404 for an unknown
 * server, the token like every data route.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { appendCalls, at, callOf } from './helpers/calls-files.js';
import { cleanup, makeStateDir, Proc } from './helpers/processes.js';
import { connectionOf, writeSnapshot } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(cleanup);

/** `watch` over `stateDir`, once it lists `serverId`. */
async function watchWith(stateDir: string, serverId: string, args: string[] = []) {
  const proc = new Proc(['watch', '--port', '0', '--state-dir', stateDir, ...args]);
  const line = await proc.waitForLog((l) => l.msg === 'API listening');
  const url = `http://127.0.0.1:${line.port}`;
  const token = args.includes('--token') ? args[args.indexOf('--token') + 1] : undefined;
  const get = async (p: string, headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}) => {
    const res = await fetch(url + p, { headers });
    return { status: res.status, body: (await res.json()) as any };
  };
  await waitFor(async () => (await get('/api/mcp/servers')).body.servers?.some((s: any) => s.serverId === serverId), { what: `${serverId} listed` });
  return { proc, url, get };
}

describe('GET /api/mcp/servers/:serverId/calls', () => {
  it('answers the newest lines, newest last, across rotated files, with limit, since, sessionId and name', async () => {
    const stateDir = await makeStateDir();
    await writeSnapshot(stateDir, 'srv', { connections: [connectionOf('sess-a')] });
    // 250 lines over three files (oldest in calls.2.jsonl), one bad line, one torn (still being written) at the end.
    const all = Array.from({ length: 250 }, (_, i) => callOf(i + 1, at(i), { sessionId: i % 2 ? 'sess-b' : 'sess-a', name: i % 10 === 0 ? 'rare' : 'echo' }));
    await appendCalls(stateDir, 'srv', all.slice(0, 100), 'calls.2.jsonl');
    await appendCalls(stateDir, 'srv', [...all.slice(100, 150), 'not a line'], 'calls.1.jsonl');
    await appendCalls(stateDir, 'srv', all.slice(150));
    await appendCalls(stateDir, 'srv', ['{"ts":"2026-12-04T11:00:00.000Z","seq":999'.slice(0, -1).concat('')].map(String));
    const { get } = await watchWith(stateDir, 'srv');

    const def = await get('/api/mcp/servers/srv/calls');
    expect(def.status).toBe(200);
    expect(def.body.serverId).toBe('srv');
    expect(def.body.calls.map((c: any) => c.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 151 + i));
    expect(def.body.calls[0]).toEqual(all[150]);

    const wide = await get('/api/mcp/servers/srv/calls?limit=1000');
    expect(wide.body.calls.map((c: any) => c.seq)).toEqual(all.map((c) => c.seq));
    const few = await get('/api/mcp/servers/srv/calls?limit=3');
    expect(few.body.calls.map((c: any) => c.seq)).toEqual([248, 249, 250]);
    const since = await get(`/api/mcp/servers/srv/calls?since=${encodeURIComponent(at(120))}&limit=1000`);
    expect(since.body.calls.map((c: any) => c.seq)).toEqual(all.slice(120).map((c) => c.seq));
    const sinceZone = await get(`/api/mcp/servers/srv/calls?since=${encodeURIComponent('2026-12-04T11:04:05+01:00')}&limit=1000`);
    expect(sinceZone.body.calls[0].ts).toBe(at(245));
    const session = await get('/api/mcp/servers/srv/calls?sessionId=sess-b&limit=5');
    expect(session.body.calls.map((c: any) => c.seq)).toEqual([242, 244, 246, 248, 250]);
    const named = await get('/api/mcp/servers/srv/calls?name=rare&sessionId=sess-a&since=2026-12-04T10:02:00Z');
    expect(named.body.calls.map((c: any) => c.seq)).toEqual([121, 131, 141, 151, 161, 171, 181, 191, 201, 211, 221, 231, 241]);
    const nothing = await get('/api/mcp/servers/srv/calls?name=never-called');
    expect(nothing).toEqual({ status: 200, body: { serverId: 'srv', calls: [] } });
  });

  it('answers 400 for a bad query, 404 for an unknown server, [] for a server without a journal; needs the token', async () => {
    const stateDir = await makeStateDir();
    await writeSnapshot(stateDir, 'srv', { connections: [] });
    const { get } = await watchWith(stateDir, 'srv', ['--token', 'sekrit']);
    expect(await get('/api/mcp/servers/srv/calls')).toEqual({ status: 200, body: { serverId: 'srv', calls: [] } });
    expect((await get('/api/mcp/servers/srv/calls', {})).status).toBe(401);
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1.5', 'limit=-1', 'since=yesterday', 'since=2026-12-04T10:00:00', 'since=2026-13-45', 'since=a&since=b', 'sessionId=', `name=${'n'.repeat(129)}`, 'name[x]=1', 'sessionid=a', 'tool=x']) {
      const r = await get(`/api/mcp/servers/srv/calls?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('bad_query');
    }
    const unknown = await get('/api/mcp/servers/ghost/calls');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('unknown_server');
    expect((await get('/api/mcp/servers/bad%20id/calls')).status).toBe(400);
  });
});
