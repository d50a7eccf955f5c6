/**
 * `--command`: stdio MCP servers from npm (server-everything, server-memory), one
 * process per session, bridged to Streamable HTTP; the process on the session's row; no
 * process outlives its session or the child, however the child ends.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, isAlive, makeStateDir, ROOT, run, startApi } from './helpers/processes.js';
import { INITIALIZE } from './helpers/raw-mcp.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await closeV2Clients();
  await cleanup();
});

const NODE = process.execPath;
const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const MEMORY = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
const STUBBORN = path.join(ROOT, 'test', 'fixtures', 'stdio-stubborn.mjs');
const everything = ['--command', `${NODE} ${EVERYTHING} stdio`];
const stubborn = ['--command', `${NODE} ${STUBBORN}`];

async function journal(stateDir: string): Promise<any[]> {
  return (await readFile(path.join(stateDir, 'default', 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
}

/** The pid on a session's row, once listed. */
async function processOf(stateDir: string, sessionId: string): Promise<number> {
  const snap = await waitSnap(stateDir, (s) => s.connections.some((c) => c.sessionId === sessionId && c.process), `session ${sessionId} with its process`);
  return snap.connections.find((c) => c.sessionId === sessionId)!.process!.pid;
}

describe('--command with server-everything over stdio', () => {
  it('serves what the server serves, streams its progress, and shows the process on the row', async () => {
    const { url, stateDir } = await startServer({ args: everything, heartbeatMs: 300 });
    // The same server, direct over stdio, as any MCP host runs it.
    const direct = new Client({ name: 'direct', version: '1' });
    await direct.connect(new StdioClientTransport({ command: NODE, args: [EVERYTHING, 'stdio'], stderr: 'ignore' }));
    const expected = (await direct.listTools()).tools.map((t) => t.name).sort();
    await direct.close();

    const c = await connectClient(url, { name: 'bridged-client', version: '4.2' });
    expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual(expected);
    const progress: number[] = [];
    const result = await c.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(progress).toEqual([1, 2, 3]);
    expect(JSON.stringify(result)).toContain('Long running operation completed');

    const pid = await processOf(stateDir, c.sessionId);
    expect(isAlive(pid)).toBe(true);
    const row = (await waitSnap(stateDir, (s) => (s.connections[0]?.process?.rssBytes ?? 0) > 0, 'the process memory')).connections[0]!;
    expect(row).toMatchObject({ sessionId: c.sessionId, clientInfo: { name: 'bridged-client', version: '4.2' }, era: 'legacy' });
    expect(row.process!.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect((await readSnap(stateDir)).backend).toEqual({ kind: 'command', target: `${NODE} ${EVERYTHING} stdio` });

    // DELETE ends the session and its process.
    await c.terminate();
    await waitFor(() => !isAlive(pid), { what: 'the process to end with its session' });
    const snap = await waitSnap(stateDir, (s) => s.activeConnections === 0, 'the session gone');
    expect(snap.sessionsClosed?.delete).toBe(1);
  });

  it('ends the session when its process exits (process-exit), in the snapshot and the journal', async () => {
    const { url, stateDir } = await startServer({ args: everything });
    const c = await connectClient(url);
    const pid = await processOf(stateDir, c.sessionId);
    process.kill(pid, 'SIGKILL');
    const snap = await waitSnap(stateDir, (s) => s.activeConnections === 0, 'the session ended');
    expect(snap.sessionsClosed?.['process-exit']).toBe(1);
    const line = (await journal(stateDir)).find((l) => l.event === 'disconnect');
    expect(line).toMatchObject({ sessionId: c.sessionId, reason: 'process-exit', era: 'legacy' });
    // The client is told its session is gone, and a new one gets a new process.
    await expect(c.client.listTools()).rejects.toThrow();
    const d = await connectClient(url);
    expect(await processOf(stateDir, d.sessionId)).not.toBe(pid);
  });

  it('caps the processes at --max-sessions, and a v2 auto client falls back to a session of its own', async () => {
    const { url, stateDir } = await startServer({ args: [...everything, '--max-sessions', '2'] });
    const v2 = await connectV2(url, { name: 'modern-wannabe', mode: 'auto' });
    expect((await v2.client.listTools()).tools.length).toBeGreaterThan(5);
    const a = await connectClient(url);
    const third = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(INITIALIZE('third')) });
    expect(third.status).toBe(503);
    const snap = await waitSnap(stateDir, (s) => s.connections.length === 2 && s.connections.every((c) => c.process), 'two sessions with processes');
    expect(snap.connections.map((c) => [c.clientInfo?.name, c.era])).toEqual([['modern-wannabe', 'legacy'], ['test-client', 'legacy']]);
    expect(new Set(snap.connections.map((c) => c.process!.pid)).size).toBe(2);
    await a.terminate();
  });
});

describe('--command with server-memory over stdio', () => {
  it('keeps a knowledge graph per process, as the server does', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mcp-memory-'));
    process.env.MEMORY_FILE_PATH = path.join(dir, 'memory.jsonl');
    try {
      const { url } = await startServer({ args: ['--command', `${NODE} ${MEMORY}`] });
      const c = await connectClient(url);
      await c.client.callTool({ name: 'create_entities', arguments: { entities: [{ name: 'mcp-monitor', entityType: 'project', observations: ['watches MCP servers'] }] } });
      const graph = await c.client.callTool({ name: 'read_graph', arguments: {} });
      expect(JSON.stringify(graph)).toContain('watches MCP servers');
    } finally {
      delete process.env.MEMORY_FILE_PATH;
    }
  });
});

describe('--command faults', () => {
  it('answers a command that does not exist with one clear error, and keeps serving', async () => {
    const { url, proc } = await startServer({ args: ['--command', 'no-such-mcp-server-xyz --flag'] });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(INITIALIZE()) });
      expect(res.status).toBe(502);
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message).toMatch(/^cannot start the MCP server "no-such-mcp-server-xyz": spawn no-such-mcp-server-xyz ENOENT$/);
    }
    expect(proc.alive).toBe(true);
  });

  it('drops what a broken stdio server prints (not JSON, not a message, a 10 MB line) and serves the rest', async () => {
    process.env.STDIO_GARBAGE = '1';
    try {
      const { url, proc } = await startServer({ args: stubborn });
      const c = await connectClient(url);
      expect((await c.client.listTools()).tools.map((t) => t.name)).toEqual(['ping']);
      expect(JSON.stringify(await c.client.callTool({ name: 'ping', arguments: {} }))).toContain('pong');
      await proc.waitForLog((l) => l.msg === 'stdio server wrote an over-long line; dropped');
      expect(proc.stderr.some((l) => l.includes('a line that is not JSON'))).toBe(true);
      expect(proc.stderr.some((l) => l.includes('JSON that is not a JSON-RPC message'))).toBe(true);
    } finally {
      delete process.env.STDIO_GARBAGE;
    }
  });
});

describe('no process outlives the child', () => {
  it('a standalone child SIGKILLed: its next start ends the processes it left', async () => {
    const stateDir = await makeStateDir();
    const first = await startServer({ stateDir, args: stubborn });
    const c = await connectClient(first.url);
    const pid = await processOf(stateDir, c.sessionId);
    first.proc.child.kill('SIGKILL');
    await first.proc.exited;
    // It ignores the end of its stdin: only a group kill ends it.
    expect(isAlive(pid)).toBe(true);
    const second = await startServer({ stateDir, args: stubborn });
    await waitFor(() => !isAlive(pid), { what: 'the orphan to be ended by the next start' });
    expect(second.proc.stderr.some((l) => l.includes('ended the stdio server processes the previous writer left'))).toBe(true);
  });

  it('a child SIGKILLed under the API: the API ends its processes; the API SIGKILLed: the child ends them', async () => {
    const api = await startApi({ args: stubborn });
    const c = await connectClient(await api.mcpUrl());
    const pid = await processOf(api.stateDir, c.sessionId);
    process.kill(await api.childPid(), 'SIGKILL');
    await waitFor(() => !isAlive(pid), { what: 'the API to end the dead child\'s process' });
    await api.proc.waitForLog((l) => l.msg === 'ended the stdio server processes the dead child left');

    // The restarted child; then the API itself goes.
    const d = await connectClient(await waitFor(async () => {
      const s = (await api.json('/api/mcp/servers')).body.servers[0];
      return s.status === 'running' && s.restarts === 1 ? s.mcpUrl : undefined;
    }, { what: 'the restarted child', timeout: 20_000 }));
    const pid2 = await processOf(api.stateDir, d.sessionId);
    // What the processes cost, in /metrics (summed per server) and in inspect (per session).
    const metrics = await waitFor(async () => {
      const text = await (await api.fetch('/metrics')).text();
      return /^mcp_session_processes_resident_memory_bytes\{server_id="default"\} [1-9]\d*$/m.test(text) ? text : undefined;
    }, { what: 'the process memory in /metrics' });
    expect(metrics).toContain('mcp_session_processes{server_id="default"} 1');
    const inspected = await run(['inspect', '--state-dir', api.stateDir]);
    expect(inspected.stdout).toMatch(/PROCESS/);
    expect(inspected.stdout).toMatch(new RegExp(`${d.sessionId} .* pid ${pid2}, \\d+\\.\\d MiB`));
    expect(inspected.stdout).toContain('  backend    command ');
    const child2 = await api.childPid();
    await api.proc.stop('SIGKILL');
    await waitFor(() => !isAlive(pid2), { what: 'the child to end its process when the API died' });
    // And the child itself is gone, its last files written (before the test's state dir goes).
    await waitFor(() => !isAlive(child2), { what: 'the child to exit when the API died' });
  });
});
