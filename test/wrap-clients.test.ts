/**
 * Real MCP clients through `mcp-monitor wrap`: the SDK's own stdio clients (v1
 * `@modelcontextprotocol/sdk`, v2 `@modelcontextprotocol/client`) launch
 * `node bin/mcp-monitor.js wrap -- <server>` as they would the server itself. What they get is
 * what they get without the wrapper (tools/list, a tool's progress notifications as they come),
 * the connection is listed with its stdio fields, and `end-session` ends the server for them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1Stdio } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client as V2Client } from '@modelcontextprotocol/client';
import { StdioClientTransport as V2Stdio } from '@modelcontextprotocol/client/stdio';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, cleanup, isAlive, makeStateDir, ROOT, run } from './helpers/processes.js';
import { readSnap, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const MEMORY = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined)));
  await cleanup();
});

function wrapArgs(stateDir: string, server: string[]): string[] {
  return [BIN, 'wrap', '--state-dir', stateDir, '--heartbeat-ms', '300', '--', process.execPath, ...server];
}

async function v1(args: string[], name = 'v1-stdio-client'): Promise<{ client: V1Client; transport: V1Stdio }> {
  const transport = new V1Stdio({ command: process.execPath, args, stderr: 'pipe' });
  const client = new V1Client({ name, version: '1.0.0' });
  await client.connect(transport);
  open.push(client);
  return { client, transport };
}

async function v2(args: string[], name = 'v2-stdio-client'): Promise<{ client: V2Client; transport: V2Stdio }> {
  const transport = new V2Stdio({ command: process.execPath, args, stderr: 'pipe' });
  const client = new V2Client({ name, version: '2.0.0' });
  await client.connect(transport);
  open.push(client);
  return { client, transport };
}

/** The name of this process in the process table (what a wrapper it launches reports). */
const OUR_NAME = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();

describe('the SDK v1 stdio client through wrap, server-everything', () => {
  it('tools/list as without the wrapper, progress streamed, the row listed with its stdio fields, end-session ends the server', async () => {
    const direct = await v1([EVERYTHING, 'stdio']);
    const expected = await direct.client.listTools();
    await direct.client.close();

    const stateDir = await makeStateDir();
    const { client, transport } = await v1(wrapArgs(stateDir, [EVERYTHING, 'stdio']));
    expect(await client.listTools()).toEqual(expected);

    const progress: Array<{ n: number; at: number }> = [];
    const result = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } }, undefined, { onprogress: (p) => progress.push({ n: p.progress, at: performance.now() }) });
    expectStreamed(progress, 4, performance.now(), 1000);
    expect(JSON.stringify(result.content)).toContain('completed');

    const snap = await waitSnap(stateDir, (s) => (s.connections[0]?.process?.rssBytes ?? 0) > 0 && (s.operations?.some((o) => o.method === 'tools/call') ?? false), 'the row and the call, with its memory', 'server-everything');
    expect(snap.backend).toEqual({ kind: 'wrap', target: `${process.execPath} ${EVERYTHING} stdio` });
    expect(snap.mcp).toBeNull();
    const row = snap.connections[0]!;
    expect(row).toMatchObject({
      transport: 'stdio',
      clientIP: null,
      userAgent: null,
      clientInfo: { name: 'v1-stdio-client', version: '1.0.0' },
      era: 'legacy',
      launchedBy: { pid: process.pid, name: OUR_NAME },
    });
    expect(row.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // initialize, notifications/initialized, tools/list, tools/call.
    expect(row.requestCount).toBe(4);
    expect(row.lastMethod).toBe('tools/call');
    expect(row.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const cmdPid = row.process!.pid;
    expect(snap.processes).toEqual([expect.objectContaining({ pid: cmdPid, sessionId: row.sessionId })]);
    const calls = snap.operations!.find((o) => o.method === 'tools/call' && o.name === 'trigger-long-running-operation');
    expect(calls).toMatchObject({ count: 1, errors: 0 });
    // Timed from the request to CMD's response: the tool took about a second.
    expect(calls!.durationSeconds.sum).toBeGreaterThan(0.8);
    expect(snap.operations!.find((o) => o.method === 'tools/list')?.count).toBe(1);

    let closed = false;
    transport.onclose = () => void (closed = true);
    const ended = await run(['end-session', row.sessionId, '--server-id', 'server-everything', '--state-dir', stateDir]);
    expect(ended).toMatchObject({ code: 0 });
    await waitFor(() => closed, { timeout: 15_000, what: 'the client sees its server go' });
    await waitFor(() => !isAlive(cmdPid), { timeout: 15_000, what: 'CMD gone' });
    const after = await waitSnap(stateDir, (s) => s.status === 'stopped', 'the wrapper stopped', 'server-everything');
    expect(after.sessionsClosed?.terminated).toBe(1);
    const journal = readFileSync(path.join(stateDir, 'server-everything', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(journal.find((l) => l.event === 'disconnect')).toMatchObject({ reason: 'terminated', sessionId: row.sessionId, by: expect.stringMatching(/^cli:/) });
  }, 60_000);
});

describe('the SDK v2 stdio client through wrap', () => {
  it('server-memory: tools/list as without the wrapper, the row listed, closing the client ends it with reason close', async () => {
    const direct = await v2([MEMORY]);
    const expected = await direct.client.listTools();
    await direct.client.close();

    const stateDir = await makeStateDir();
    const { client } = await v2(wrapArgs(stateDir, [MEMORY]));
    expect(await client.listTools()).toEqual(expected);
    const snap = await waitSnap(stateDir, (s) => s.connections[0]?.lastMethod === 'tools/list', 'the row', 'server-memory');
    expect(snap.connections[0]).toMatchObject({ transport: 'stdio', clientIP: null, clientInfo: { name: 'v2-stdio-client', version: '2.0.0' }, launchedBy: { pid: process.pid } });
    await client.close();
    const after = await waitSnap(stateDir, (s) => s.status === 'stopped', 'stopped', 'server-memory');
    expect(after.sessionsClosed?.close).toBe(1);
    expect(after.activeConnections).toBe(0);
  }, 60_000);

  it('server-everything: progress streams through, end-session ends the server', async () => {
    const stateDir = await makeStateDir();
    const { client, transport } = await v2(wrapArgs(stateDir, [EVERYTHING, 'stdio']));
    const progress: Array<{ n: number; at: number }> = [];
    await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } }, { onprogress: (p: { progress: number }) => progress.push({ n: p.progress, at: performance.now() }) });
    expectStreamed(progress, 3, performance.now(), 600);
    const snap = await waitSnap(stateDir, (s) => s.connections[0]?.lastMethod === 'tools/call', 'the call seen', 'server-everything');
    let closed = false;
    transport.onclose = () => void (closed = true);
    expect((await run(['end-session', snap.connections[0]!.sessionId, '--server-id', 'server-everything', '--state-dir', stateDir])).code).toBe(0);
    await waitFor(() => closed, { timeout: 15_000, what: 'the client sees its server go' });
    expect((await readSnap(stateDir, 'server-everything')).activeConnections).toBe(0);
  }, 60_000);
});

/**
 * The progress of a `steps`-step tool that took `durationMs`, as it came through the wrapper:
 * in order, as the steps went (the first well before the result, not all at the end), every
 * step but maybe the last (the SDK clients may settle the call before they handle a
 * notification that came just before its result: the same without the wrapper).
 */
function expectStreamed(progress: Array<{ n: number; at: number }>, steps: number, resultAt: number, durationMs: number): void {
  const n = progress.map((p) => p.n);
  expect(n.length).toBeGreaterThanOrEqual(steps - 1);
  expect(n).toEqual(Array.from({ length: n.length }, (_, i) => i + 1));
  expect(resultAt - progress[0]!.at).toBeGreaterThan(durationMs / 2);
}
