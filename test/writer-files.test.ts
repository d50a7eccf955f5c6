/**
 * The writer's files on disk as a hostile or broken state directory makes them: symbolic links
 * planted at the snapshot, the journal or the server directory, a state directory of another user
 * or writable by others, a dead writer's open sessions, and the edge cases of taking its lock.
 * Real processes, files and links.
 */
import { spawn } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RECLAIM_PID_ENV } from '../shared/settings.js';
import { SNAPSHOT_SCHEMA, serializeSnapshot, type Snapshot } from '../shared/snapshot.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { Proc, cleanup, makeStateDir, run } from './helpers/processes.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const children: ReturnType<typeof spawn>[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await closeClients();
  await cleanup();
});

/** A file outside the state directory that a planted link points to: it must stay as it is. */
async function precious(): Promise<{ file: string; check: () => Promise<void> }> {
  const dir = await makeStateDir();
  const file = path.join(dir, 'precious.txt');
  await writeFile(file, 'precious config\n', { mode: 0o644 });
  await chmod(file, 0o644);
  return {
    file,
    check: async () => {
      expect(await readFile(file, 'utf8')).toBe('precious config\n');
      expect((await stat(file)).mode & 0o777).toBe(0o644);
    },
  };
}

function snapshotOf(fields: Partial<Snapshot>): Snapshot {
  const now = new Date().toISOString();
  return {
    schema: SNAPSHOT_SCHEMA, serverId: 'default', pid: 1, seq: 5, status: 'running', reason: 'heartbeat',
    startedAt: now, writtenAt: now, heartbeatMs: 1000, mcp: null, activeConnections: 0, totalConnections: 0,
    lastUpdated: now, connections: [], ...fields,
  };
}

/** The pid of a process that has exited (and was reaped). */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

describe('symbolic links in the state directory', () => {
  it('replaces a symlink at snapshot.json, never writes through it', async () => {
    const target = await precious();
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'default'), { mode: 0o700 });
    await symlink(target.file, path.join(stateDir, 'default', 'snapshot.json'));
    const { proc } = await startServer({ stateDir });
    await target.check();
    expect((await lstat(path.join(stateDir, 'default', 'snapshot.json'))).isFile()).toBe(true);
    expect((await stat(path.join(stateDir, 'default', 'snapshot.json'))).mode & 0o777).toBe(0o600);
    expect((await proc.stop('SIGTERM')).code).toBe(0);
    expect((await readSnap(stateDir)).status).toBe('stopped');
    await target.check();
    // Nothing left beside the link's target either.
    expect(await readdir(path.dirname(target.file))).toEqual(['precious.txt']);
  });

  it('refuses a symlink at events.jsonl (logged), never appends to or chmods its target', async () => {
    const target = await precious();
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'default'), { mode: 0o700 });
    await symlink(target.file, path.join(stateDir, 'default', 'events.jsonl'));
    const { proc, url } = await startServer({ stateDir });
    await (await connectClient(url, { name: 'still-served' })).terminate();
    const refused = await proc.waitForLog((l) => l.msg === 'journal unavailable; will retry on the next event');
    expect(refused.err).toMatch(/events\.jsonl: is a symbolic link \(refused\)/);
    expect((await proc.stop('SIGTERM')).code).toBe(0);
    await target.check();
    expect((await lstat(path.join(stateDir, 'default', 'events.jsonl'))).isSymbolicLink()).toBe(true);
  });

  it('refuses a server directory that is a symlink: exit 2, one line naming it', async () => {
    const elsewhere = await makeStateDir();
    const stateDir = await makeStateDir();
    await symlink(elsewhere, path.join(stateDir, 'default'));
    const r = await run(['server', '--mcp-port', '0', '--state-dir', stateDir]);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('mcp-monitor server:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(path.join(stateDir, 'default'));
    expect(lines[0]).toMatch(/symbolic link/);
    expect(await readdir(elsewhere)).toEqual([]);
  });
});

describe('a state directory that is not ours alone', () => {
  it.each([['server'], ['start']])('%s refuses one that group or others may write (exit 2, says chmod go-w)', async (command) => {
    const stateDir = await makeStateDir();
    await chmod(stateDir, 0o777);
    const r = await run([command, ...(command === 'start' ? ['--port', '0'] : []), '--mcp-port', '0', '--state-dir', stateDir]);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(stateDir);
    expect(lines[0]).toMatch(/writable by group or others \(mode 0777\); run chmod go-w/);
    expect(await readdir(stateDir)).toEqual([]);
  });

  const root = process.getuid?.() === 0;
  it.skipIf(!root)('refuses one owned by another user (needs root to chown it; skipped otherwise)', async () => {
    const stateDir = await makeStateDir();
    await chown(stateDir, 65534, 65534);
    const r = await run(['server', '--mcp-port', '0', '--state-dir', stateDir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/owned by uid 65534, not by this user \(uid 0\)/);
    expect(await readdir(stateDir)).toEqual([]);
  });
});

describe('after a writer died', () => {
  it('counts its open sessions as closed (shutdown), so created - closed does not drift', async () => {
    const first = await startServer();
    await connectClient(first.url, { name: 'a' });
    await connectClient(first.url, { name: 'b' });
    await waitSnap(first.stateDir, (s) => s.activeConnections === 2, 'two sessions');
    await first.proc.stop('SIGKILL');
    // Its supervisor saw it die: the lock is taken over at once.
    const second = new Proc(['server', '--mcp-port', '0', '--state-dir', first.stateDir], { env: { [RECLAIM_PID_ENV]: String(first.proc.pid) } });
    const s = await waitSnap(first.stateDir, (x) => x.pid === second.pid && x.status === 'running', 'the next writer');
    expect(s.totalConnections).toBe(2);
    expect(s.sessionsClosed).toMatchObject({ shutdown: 2 });
    const closed = Object.values(s.sessionsClosed!).reduce((a, b) => a + b, 0);
    expect(s.totalConnections - closed).toBe(s.activeConnections);
  });
});

describe('taking the lock', () => {
  it('never removes a lock that a third writer took after the dead writer last wrote', async () => {
    const stateDir = await makeStateDir();
    const dir = path.join(stateDir, 'default');
    await mkdir(dir, { mode: 0o700 });
    const dead = await deadPid();
    const wroteAt = new Date(Date.now() - 2000).toISOString();
    await writeFile(path.join(dir, 'snapshot.json'), serializeSnapshot(snapshotOf({ pid: dead, writtenAt: wroteAt, startedAt: wroteAt, lastUpdated: wroteAt })));
    // The third writer's lock, taken now and fresh: it has not written a snapshot yet.
    const lock = path.join(dir, 'snapshot.json.lock');
    await mkdir(lock);
    const ino = (await stat(lock)).ino;
    const p = new Proc(['server', '--mcp-port', '0', '--state-dir', stateDir], { env: { [RECLAIM_PID_ENV]: String(dead) } });
    const seen = await waitFor(() => p.logs().find((l) => /not reclaiming|took over/.test(String(l.msg))) ?? (p.alive ? undefined : { msg: `exited ${p.exitCode}` }), { what: 'the reclaim decision' });
    expect(seen.msg).toMatch(/not reclaiming/);
    expect((await stat(lock)).ino).toBe(ino);
    expect((await readSnap(stateDir)).pid).toBe(dead);
  });

  it('waits for a writer that is stopping instead of refusing at once, then starts', async () => {
    const stateDir = await makeStateDir();
    const dir = path.join(stateDir, 'default');
    await mkdir(dir, { mode: 0o700 });
    // A live process stands for the old child in its shutdown window.
    const old = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(old);
    await writeFile(path.join(dir, 'snapshot.json'), serializeSnapshot(snapshotOf({ pid: old.pid!, status: 'stopping', reason: 'shutdown' })));
    const lock = path.join(dir, 'snapshot.json.lock');
    await mkdir(lock);
    const p = new Proc(['server', '--mcp-port', '0', '--state-dir', stateDir]);
    await waitFor(() => p.logs().find((l) => l.msg === 'waiting for the snapshot lock') ?? (p.alive ? undefined : { msg: `exited ${p.exitCode}: ${p.stderr.join(' | ')}` }), { what: 'the new writer waiting' }).then((l) => expect(l.msg).toBe('waiting for the snapshot lock'));
    expect(p.alive).toBe(true);
    // The old child finishes its shutdown: it gives the lock back.
    await rm(lock, { recursive: true });
    const s = await waitSnap(stateDir, (x) => x.pid === p.pid && x.status === 'running', 'the new writer running');
    expect(s.status).toBe('running');
  });

  it('reports a snapshot it cannot read instead of taking it for "no holder"', async () => {
    const stateDir = await makeStateDir();
    const dir = path.join(stateDir, 'default');
    // A directory where the snapshot should be (EISDIR), and a fresh lock held.
    await mkdir(path.join(dir, 'snapshot.json'), { recursive: true, mode: 0o700 });
    await mkdir(path.join(dir, 'snapshot.json.lock'));
    const r = await run(['server', '--mcp-port', '0', '--state-dir', stateDir]);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('mcp-monitor server:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/cannot tell who holds the lock: .*snapshot\.json: is a directory/);
  });
});
