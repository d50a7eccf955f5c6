/**
 * ControlDirectory's start()/close() on its own, in a temp state directory with real request
 * files: start once, close the same promise, and no request looked at (nor the directory made
 * or cleared) after close or by a start that a close came before.
 */
import { lstat, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlDirectory } from '../server/control/control-directory.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { writeControlRequest } from '../shared/io/write-control-request.js';
import { connectionOf } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

const silent = pino({ level: 'silent' });
const POLL_MS = 20;
const closers: (() => Promise<void>)[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-control-'));
  dirs.push(dir);
  return dir;
}

/** The control directory of `serverId`, its server directory made, with sessions `ids` open. */
async function controlOf(dir: string, serverId: string, ids: string[]) {
  await mkdir(path.join(dir, serverId), { recursive: true, mode: 0o700 });
  const registry = new SessionRegistry();
  for (const id of ids) registry.add(connectionOf(id));
  // Ends a session as the hosts do: off the registry, reason `terminated`.
  const sessions = { terminate: (id: string, by: string) => registry.remove(id, 'terminated', new Date(), undefined, by) };
  const control = new ControlDirectory({ stateDir: dir, serverId, registry, sessions, logger: silent, pollMs: POLL_MS });
  closers.push(() => control.close());
  return { control, registry };
}

const endSession = (sessionId: string) => ({ action: 'end-session' as const, sessionId, requestedAt: new Date().toISOString(), by: 'api' });

/**
 * Has another control directory with the same poll carry out three requests, one after the
 * other: a directory that still polled would have looked at its own meanwhile.
 */
async function pollsElsewhere(dir: string): Promise<void> {
  const ids = ['c1', 'c2', 'c3'];
  const clock = await controlOf(dir, 'clock', ids);
  await clock.control.start();
  for (const id of ids) {
    await writeControlRequest(dir, 'clock', endSession(id));
    await waitFor(() => !clock.registry.get(id), { what: `the clock's request ${id} carried out` });
  }
}

describe('ControlDirectory lifecycle', () => {
  it('start() twice throws; close() returns the same promise; while started, a request is carried out and removed', async () => {
    const dir = await stateDir();
    const { control, registry } = await controlOf(dir, 's', ['a']);
    await control.start();
    await expect(control.start()).rejects.toThrow(/already started/);
    expect((await lstat(control.dir)).mode & 0o777).toBe(0o700);
    await writeControlRequest(dir, 's', endSession('a'));
    await waitFor(() => !registry.get('a'), { what: 'the session ended on request' });
    await waitFor(async () => (await readdir(control.dir)).length === 0, { what: 'the request removed' });
    const closing = control.close();
    expect(control.close()).toBe(closing);
    await closing;
  });

  it('looks at no request after close()', async () => {
    const dir = await stateDir();
    const { control, registry } = await controlOf(dir, 's', ['a']);
    await control.start();
    await control.close();
    const file = await writeControlRequest(dir, 's', endSession('a'));
    await pollsElsewhere(dir);
    expect(registry.get('a')).toBeDefined();
    expect((await lstat(file)).isFile()).toBe(true);
  });

  it('close() before start(): start() neither makes the directory nor clears what is in it, and polls nothing', async () => {
    const dir = await stateDir();
    const fresh = await controlOf(dir, 'fresh', []);
    await fresh.control.close();
    await fresh.control.start();
    await expect(lstat(fresh.control.dir)).rejects.toThrow(/ENOENT/);

    // A directory with a request an earlier run left (old: start would remove it unread).
    const { control, registry } = await controlOf(dir, 's', ['a']);
    await mkdir(control.dir, { mode: 0o700 });
    const old = path.join(control.dir, 'left.json');
    await writeFile(old, JSON.stringify(endSession('a')), { mode: 0o600 });
    const longAgo = new Date(Date.now() - 10 * 60_000);
    await utimes(old, longAgo, longAgo);
    await control.close();
    await control.start();
    const file = await writeControlRequest(dir, 's', endSession('a'));
    await pollsElsewhere(dir);
    expect(registry.get('a')).toBeDefined();
    expect((await readdir(control.dir)).sort()).toEqual([path.basename(file), 'left.json'].sort());
  });

  it('close() during start(): start() resolves and nothing polls afterwards', async () => {
    const dir = await stateDir();
    const { control, registry } = await controlOf(dir, 's', ['a']);
    const starting = control.start();
    await control.close();
    await starting;
    await mkdir(control.dir, { recursive: true, mode: 0o700 });
    const file = await writeControlRequest(dir, 's', endSession('a'));
    await pollsElsewhere(dir);
    expect(registry.get('a')).toBeDefined();
    expect((await lstat(file)).isFile()).toBe(true);
  });
});
