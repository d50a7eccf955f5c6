/**
 * The calls journal from outside, in every backend: real SDK clients of both versions call real
 * servers (the built-in one, server-everything over `--command`, over `--upstream` and through
 * `wrap`); `calls.jsonl` has one line per request with an id, with the outcome and the error
 * code; the operations table names only the tools the server listed (`_OTHER` for a made-up
 * one); and a unique marker sent as an argument is in no file of the state directory.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1Stdio } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseCallLine, type CallLine } from '../shared/calls.js';
import type { Snapshot } from '../shared/snapshot.js';
import { EVERYTHING, startEverythingHttp, stopEverythingHttp } from './helpers/everything-http.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { BIN, cleanup, makeStateDir, run } from './helpers/processes.js';
import { startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const stdioClients: V1Client[] = [];
afterEach(async () => {
  await Promise.all(stdioClients.splice(0).map((c) => c.close().catch(() => undefined)));
  await closeClients();
  await closeV2Clients();
  await cleanup();
});
afterAll(stopEverythingHttp);

/** What a test needs of a client, whatever its SDK version and transport. */
interface AnyClient {
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
}

/** Every file under `dir`, recursively, with its text. */
async function filesUnder(dir: string): Promise<Array<{ file: string; text: string }>> {
  const out: Array<{ file: string; text: string }> = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    out.push({ file, text: await readFile(file, 'latin1') });
  }
  return out;
}

async function callLines(stateDir: string, serverId: string): Promise<CallLine[]> {
  const text = await readFile(path.join(stateDir, serverId, 'calls.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(parseCallLine);
}

/**
 * The same session in every backend: the tools listed, the echo tool called with the marker,
 * a made-up tool, a bad argument; then the journal, the operations and the marker checked.
 */
async function session(o: { client: AnyClient; stateDir: string; serverId: string; echo: string; textArg: string; era: 'legacy' | 'modern'; clientName: string }): Promise<void> {
  const marker = `MARKER-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const listed = (await o.client.listTools()).tools.map((t) => t.name);
  expect(listed).toContain(o.echo);
  await o.client.callTool({ name: o.echo, arguments: { [o.textArg]: marker } });
  // A name the server never listed, and an argument of the wrong type: the caller's faults.
  await o.client.callTool({ name: 'made-up-tool', arguments: {} }).catch(() => undefined);
  await o.client.callTool({ name: o.echo, arguments: { [o.textArg]: 42 } }).catch(() => undefined);

  const lines = await waitFor(async () => {
    const l = await callLines(o.stateDir, o.serverId);
    return l.filter((c) => c.method === 'tools/call').length >= 3 ? l : undefined;
  }, { what: 'the three tools/call lines in calls.jsonl', timeout: 15_000 });
  const calls = lines.filter((c) => c.method === 'tools/call');
  expect(calls.map((c) => c.name)).toEqual([o.echo, 'made-up-tool', o.echo]);
  expect(calls[0]).toMatchObject({ outcome: 'ok', errorCode: null, era: o.era, client: o.clientName });
  // An unknown tool and invalid arguments are the caller's faults (docs/state-directory.md): rejected,
  // whether the server answers them with -32602 or with an `isError` result.
  expect(calls[1]!.outcome).toBe('rejected');
  expect(calls[2]!.outcome).toBe('rejected');
  for (const c of calls) expect(c.durationMs).toBeGreaterThanOrEqual(0);
  expect(lines.find((c) => c.method === 'tools/list')).toMatchObject({ outcome: 'ok', name: null });
  // Notifications have no id: no line.
  expect(lines.some((c) => c.method.startsWith('notifications/'))).toBe(false);
  const sessions = new Set(calls.map((c) => c.sessionId));
  expect(sessions.size).toBe(1);

  const snap: Snapshot = await waitSnap(o.stateDir, (s) => (s.operations?.filter((x) => x.method === 'tools/call').reduce((n, x) => n + x.count, 0) ?? 0) >= 3 && s.catalog != null, 'the calls and the catalog in the snapshot', o.serverId);
  expect(snap.catalog!.tools.map((t) => t.name)).toEqual(listed);
  const toolOps = snap.operations!.filter((x) => x.method === 'tools/call');
  expect(toolOps.map((x) => x.name).sort()).toEqual([o.echo, '_OTHER'].sort());
  expect(toolOps.find((x) => x.name === '_OTHER')).toMatchObject({ count: 1, errors: 0 });
  expect(toolOps.find((x) => x.name === o.echo)).toMatchObject({ count: 2, errors: 0 });
  expect(snap.callsDropped).toBe(0);
  if (o.era === 'legacy') expect(snap.connections.map((c) => c.sessionId)).toContain([...sessions][0]);

  // The marker went to the server as an argument; the monitor kept none of it.
  const files = await filesUnder(o.stateDir);
  expect(files.map((f) => path.relative(o.stateDir, f.file))).toContain(path.join(o.serverId, 'calls.jsonl'));
  expect(files.filter((f) => f.text.includes(marker)).map((f) => f.file)).toEqual([]);

  // The CLI reads the same lines.
  const cli = await run(['calls', '--json', '--state-dir', o.stateDir, '--server-id', o.serverId]);
  expect(cli.code).toBe(0);
  const printed = cli.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CallLine);
  expect(printed.slice(0, lines.length)).toEqual(lines);
  const table = await run(['calls', '--state-dir', o.stateDir, '--server-id', o.serverId]);
  expect(table.code).toBe(0);
  expect(table.stdout).toContain('made-up-tool');
  expect(table.stdout).toContain('rejected');
}

describe('the calls journal in every backend', () => {
  it('built-in server, SDK v1 client (legacy era)', async () => {
    const { stateDir, url } = await startServer();
    const c = await connectClient(url, { name: 'v1-http' });
    await session({ client: c.client, stateDir, serverId: 'default', echo: 'echo', textArg: 'text', era: 'legacy', clientName: 'v1-http' });
  });

  it('built-in server, SDK v2 client (modern era)', async () => {
    const { stateDir, url } = await startServer();
    const c = await connectV2(url, { name: 'v2-modern' });
    await session({ client: c.client, stateDir, serverId: 'default', echo: 'echo', textArg: 'text', era: 'modern', clientName: 'v2-modern' });
  });

  it('server-everything over --command, SDK v1 client', async () => {
    const { stateDir, url } = await startServer({ args: ['--command', `${process.execPath} ${EVERYTHING} stdio`] });
    const c = await connectClient(url, { name: 'v1-command' });
    await session({ client: c.client, stateDir, serverId: 'default', echo: 'echo', textArg: 'message', era: 'legacy', clientName: 'v1-command' });
  });

  it('server-everything over --upstream, SDK v2 client', async () => {
    const upstream = await startEverythingHttp();
    const { stateDir, url } = await startServer({ args: ['--upstream', upstream.url] });
    const c = await connectV2(url, { name: 'v2-upstream' });
    await session({ client: c.client, stateDir, serverId: 'default', echo: 'echo', textArg: 'message', era: 'legacy', clientName: 'v2-upstream' });
  });

  it('server-everything through wrap, the SDK v1 stdio client', async () => {
    const stateDir = await makeStateDir();
    const transport = new V1Stdio({ command: process.execPath, args: [BIN, 'wrap', '--state-dir', stateDir, '--heartbeat-ms', '300', '--', process.execPath, EVERYTHING, 'stdio'], stderr: 'pipe' });
    const client = new V1Client({ name: 'v1-wrap', version: '1.0.0' });
    await client.connect(transport);
    stdioClients.push(client);
    await session({ client, stateDir, serverId: 'server-everything', echo: 'echo', textArg: 'message', era: 'legacy', clientName: 'v1-wrap' });
  });

  it('--calls off writes no calls.jsonl at all', async () => {
    const { stateDir, url } = await startServer({ args: ['--calls', 'off'] });
    const c = await connectClient(url);
    await c.client.callTool({ name: 'echo', arguments: { text: 'x' } });
    await waitSnap(stateDir, (s) => s.operations?.some((x) => x.method === 'tools/call') ?? false, 'the call recorded');
    expect((await readdir(path.join(stateDir, 'default'))).filter((f) => f.startsWith('calls'))).toEqual([]);
  });
});
