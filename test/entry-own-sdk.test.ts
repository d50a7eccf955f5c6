/**
 * An `--entry` module that brings its own copy of the SDK (its own node_modules, as every user's
 * project does): the classes it builds are not ours, so nothing may depend on their identity (see
 * `sdkGeneration` in server/backends/entry/entry.ts). Real project directory, real copies of the packages,
 * real clients of both SDK versions.
 */
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from '../shared/snapshot.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { cleanup } from './helpers/processes.js';
import { startServer, waitSnap } from './helpers/server-process.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const OWN = ['@modelcontextprotocol/server', '@modelcontextprotocol/core', '@modelcontextprotocol/sdk', 'zod'];

let project: string;

/** A user's project: the SDK packages and zod copied (other instances of every class), the rest linked. */
beforeAll(async () => {
  project = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-user-project-'));
  const modules = path.join(project, 'node_modules');
  await mkdir(path.join(modules, '@modelcontextprotocol'), { recursive: true });
  for (const name of OWN) await cp(path.join(ROOT, 'node_modules', name), path.join(modules, name), { recursive: true, dereference: true });
  for (const name of await readdir(path.join(ROOT, 'node_modules'))) {
    if (name.startsWith('.') || name === '@modelcontextprotocol' || OWN.includes(name)) continue;
    await symlink(path.join(ROOT, 'node_modules', name), path.join(modules, name));
  }
  for (const name of ['node', 'client']) {
    await symlink(path.join(ROOT, 'node_modules', '@modelcontextprotocol', name), path.join(modules, '@modelcontextprotocol', name));
  }
  await cp(path.join(ROOT, 'test', 'fixtures', 'entry-server-v2.mjs'), path.join(project, 'server-v2.mjs'));
  await cp(path.join(ROOT, 'test', 'fixtures', 'entry-server-v1.mjs'), path.join(project, 'server-v1.mjs'));
  await writeFile(path.join(project, 'package.json'), '{"type":"module","private":true}\n');
});

afterEach(async () => {
  await closeV2Clients();
  await closeClients();
  await cleanup();
});

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

const byName = (name: string) => (c: Connection) => c.clientInfo?.name === name;

describe('--entry with its own copy of the SDK', () => {
  it('a v2 module serves modern and legacy clients, listed and counted', async () => {
    const { url, stateDir } = await startServer({ args: ['--entry', path.join(project, 'server-v2.mjs')] });
    const modern = await connectV2(url, { name: 'own-modern' });
    const legacy = await connectClient(url, { name: 'own-legacy' });
    expect((await modern.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).content).toEqual([{ type: 'text', text: '3' }]);
    expect((await modern.client.callTool({ name: 'fail', arguments: {} })).isError).toBe(true);
    expect((await legacy.client.callTool({ name: 'add', arguments: { a: 2, b: 2 } })).content).toEqual([{ type: 'text', text: '4' }]);
    const s = await waitSnap(stateDir, (x) => x.connections.some(byName('own-modern')) && x.connections.some(byName('own-legacy')), 'both listed');
    expect(s.connections.find(byName('own-modern'))!.era).toBe('modern');
    expect(s.connections.find(byName('own-legacy'))!.era).toBe('legacy');
    const ops = (await waitSnap(stateDir, (x) => (x.operations ?? []).some((o) => o.name === '_OTHER'), 'the calls counted')).operations!;
    expect(ops.find((o) => o.name === 'add')).toMatchObject({ method: 'tools/call', count: 2 });
    // Only ever isError: no entry of its own while no catalog is known (see
    // server/operations/operation-recorder.ts).
    expect(ops.find((o) => o.name === '_OTHER')).toMatchObject({ method: 'tools/call', count: 1, errors: 1 });
  });

  it('a v1 module serves a v2 auto client after its fallback', async () => {
    const { url } = await startServer({ args: ['--entry', path.join(project, 'server-v1.mjs')] });
    const c = await connectV2(url, { name: 'own-v1' });
    expect((await c.client.callTool({ name: 'add', arguments: { a: 20, b: 22 } })).content).toEqual([{ type: 'text', text: '42' }]);
  });
});

describe('--entry failures are visible', () => {
  it('a factory that throws for modern requests: the client gets a 5xx and the log says so at error, a few times a minute', async () => {
    const { url, proc } = await startServer({ args: ['--entry', path.join(ROOT, 'test', 'fixtures', 'entry-modern-fails.mjs')] });
    const post = () =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} } } }),
      });
    for (let i = 0; i < 8; i += 1) expect((await post()).status).toBeGreaterThanOrEqual(500);
    await proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('a modern request failed'));
    const failures = proc.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('a modern request failed'));
    expect(failures.length).toBe(5);
    expect(failures[0]).toMatchObject({ level: 50, method: 'tools/list', latestSdkError: 'no database connection' });
  });
});
