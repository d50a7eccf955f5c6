/**
 * `GET /api/mcp/servers/:serverId/tools` from outside (docs/http-api.md, Tools), against the real API
 * and child: 400 for a malformed id, 404 for an unknown server, 503 before a valid snapshot,
 * `catalog: null` and no rows before a `tools/list`, then a row per listed tool with the size
 * of its definition as the server sent it and its calls, in both protocol eras.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { cleanup, ROOT, startApi } from './helpers/processes.js';
import { rawCall, rawSession } from './helpers/raw-mcp.js';
import { waitFor } from './helpers/wait-for.js';

const ENTRY_V2 = path.join(ROOT, 'test', 'fixtures', 'entry-server-v2.mjs');

afterEach(async () => {
  await closeV2Clients();
  await closeClients();
  await cleanup();
});

interface ToolsBody {
  serverId: string;
  catalog: { tools: { name: string; bytes: number }[]; totalBytes: number; seenAt: string } | null;
  tools: { name: string; bytes: number; calls: number; errors: number; p50Ms: number | null; lastCalledAt: string | null }[];
}

/** UTF-8 bytes of a tool's object as JSON.stringify writes it (docs/state-directory.md, the snapshot schema). */
const bytesOf = (tool: unknown) => Buffer.byteLength(JSON.stringify(tool), 'utf8');

describe('GET /api/mcp/servers/:serverId/tools', () => {
  it('is 400 for a malformed id, 404 for an unknown server, 503 for a server without a valid snapshot', async () => {
    const api = await startApi();
    const bad = await api.json('/api/mcp/servers/no%20such/tools');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('bad_server_id');
    const unknown = await api.json('/api/mcp/servers/nowhere/tools');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('unknown_server');
    // A server in the state directory whose snapshot is not valid: known, but nothing to join.
    await mkdir(path.join(api.stateDir, 'broken'), { recursive: true, mode: 0o700 });
    await writeFile(path.join(api.stateDir, 'broken', 'snapshot.json'), '{"schema":"something-else"}\n', { mode: 0o600 });
    const broken = await waitFor(async () => {
      const r = await api.json('/api/mcp/servers/broken/tools');
      return r.status === 404 ? undefined : r;
    }, { what: 'the broken server known' });
    expect(broken.status).toBe(503);
    expect(broken.body.error.code).toBe('no_snapshot');
  });

  it('has catalog null and no rows before a tools/list, then the listed tools with their sizes and calls', async () => {
    const api = await startApi();
    const url = await api.mcpUrl();
    const sid = await rawSession(url, 'route-client');
    const before = await api.json<ToolsBody>('/api/mcp/servers/default/tools');
    expect(before.status).toBe(200);
    expect(before.body).toEqual({ serverId: 'default', catalog: null, tools: [] });

    // A bare client: the tool objects exactly as the server sent them.
    const listed = await rawCall(url, sid, 'tools/list');
    const sent = listed.body.result.tools as { name: string }[];
    expect(sent.length).toBeGreaterThanOrEqual(2);
    const t0 = Date.now();
    const echo = await rawCall(url, sid, 'tools/call', { name: 'echo', arguments: { text: 'hi' } });
    expect(echo.body.result.content[0].text).toBe('hi');

    const after = await waitFor(async () => {
      const r = await api.json<ToolsBody>('/api/mcp/servers/default/tools');
      return r.body.tools?.find((t) => t.name === 'echo')?.calls === 1 ? r : undefined;
    }, { what: 'the echo call counted', timeout: 15_000 });
    // The call ends when the server's response closes, which can be after this client has read
    // the answer: the latest bound for it is when its count was seen.
    const t1 = Date.now();
    expect(after.status).toBe(200);
    const { catalog, tools } = after.body;
    expect(catalog!.tools).toEqual(sent.map((t) => ({ name: t.name, bytes: bytesOf(t) })));
    expect(catalog!.totalBytes).toBe(sent.reduce((n, t) => n + bytesOf(t), 0));
    expect(Date.parse(catalog!.seenAt)).toBeLessThanOrEqual(t0);
    // A row per tool, in the server's order, with the catalog's sizes.
    expect(tools.map((t) => [t.name, t.bytes])).toEqual(catalog!.tools.map((t) => [t.name, t.bytes]));
    for (const t of tools.filter((x) => x.name !== 'echo')) expect(t).toEqual({ name: t.name, bytes: t.bytes, calls: 0, errors: 0, p50Ms: null, lastCalledAt: null });
    const row = tools.find((t) => t.name === 'echo')!;
    expect(row).toMatchObject({ calls: 1, errors: 0 });
    expect(row.p50Ms).toBeGreaterThan(0);
    expect(Date.parse(row.lastCalledAt!)).toBeGreaterThanOrEqual(t0 - 1);
    expect(Date.parse(row.lastCalledAt!)).toBeLessThanOrEqual(t1 + 1);
  });

  it('learns the catalog from a modern client too, and counts its isError calls as errors', async () => {
    const api = await startApi({ args: ['--entry', ENTRY_V2] });
    const url = await api.mcpUrl();
    const modern = await connectV2(url, { name: 'route-modern' });
    const listed = await modern.client.listTools();
    expect(listed.tools.map((t) => t.name).sort()).toEqual(['add', 'fail', 'wait']);
    expect((await modern.client.callTool({ name: 'fail', arguments: {} })).isError).toBe(true);
    const legacy = await connectClient(url, { name: 'route-legacy' });
    await legacy.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    const body = await waitFor(async () => {
      const r = await api.json<ToolsBody>('/api/mcp/servers/default/tools');
      const by = new Map(r.body.tools?.map((t) => [t.name, t]));
      return by.get('fail')?.errors === 1 && by.get('add')?.calls === 1 ? r.body : undefined;
    }, { what: 'both calls counted', timeout: 15_000 });
    expect(body.catalog!.tools.map((t) => t.name).sort()).toEqual(['add', 'fail', 'wait']);
    expect(body.tools.find((t) => t.name === 'fail')).toMatchObject({ calls: 1, errors: 1 });
    expect(body.tools.find((t) => t.name === 'wait')).toMatchObject({ calls: 0, errors: 0, p50Ms: null, lastCalledAt: null });
  });
});
