/**
 * `<server>/.tmp/`, where the snapshot writer makes each snapshot before renaming it over
 * `snapshot.json`, and the API's reader, which watches it instead of the server directory
 * (shared/io/state-dir-watch.ts). Real servers, real files, real chokidar; which directories are
 * watched is read from the kernel (the inotify entries in /proc/self/fdinfo), by inode.
 */
import { lstat, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { SnapshotWatcher } from '../api/snapshot-watcher.js';
import { SNAPSHOT_SCHEMA } from '../shared/snapshot.js';
import { cleanup, makeStateDir } from './helpers/processes.js';
import { replaceAsTheWriter } from './helpers/snapshot-files.js';
import { startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const watchers: SnapshotWatcher[] = [];
afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
  await cleanup();
});

/** The inodes this process has inotify watches on (every inotify descriptor's entries). */
async function watchedInodes(): Promise<Set<number>> {
  const inodes = new Set<number>();
  for (const fd of await readdir('/proc/self/fdinfo')) {
    const text = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
    for (const m of text.matchAll(/^inotify wd:\S+ ino:([0-9a-f]+) /gm)) inodes.add(Number.parseInt(m[1]!, 16));
  }
  return inodes;
}

const inode = async (p: string) => (await stat(p)).ino;

/** Writes a snapshot of `serverId` as the child's writer does: a temp file in `.tmp/`, renamed. */
async function writeAsTheWriter(stateDir: string, serverId: string, seq: number): Promise<void> {
  const now = new Date().toISOString();
  await replaceAsTheWriter(path.join(stateDir, serverId, 'snapshot.json'), `${JSON.stringify({
    schema: SNAPSHOT_SCHEMA, serverId, pid: process.pid, seq, status: 'running', reason: 'heartbeat', startedAt: '2026-01-01T00:00:00.000Z',
    writtenAt: now, heartbeatMs: 60_000, mcp: null, activeConnections: 0, totalConnections: 0, lastUpdated: now, connections: [],
  })}\n`);
}

async function watcherOn(stateDir: string, rescanMs: number): Promise<SnapshotWatcher> {
  const w = new SnapshotWatcher({ stateDir, logger: pino({ level: 'silent' }), rescanMs });
  watchers.push(w);
  await w.start();
  return w;
}

describe('the snapshot writer\'s .tmp/', () => {
  it('is made 0700 in place of a planted link, never written through it, and a killed writer\'s temps in it are removed', async () => {
    const stateDir = await makeStateDir();
    const dir = path.join(stateDir, 'default');
    const elsewhere = path.join(stateDir, 'elsewhere');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await mkdir(elsewhere, { mode: 0o700 });
    await symlink(elsewhere, path.join(dir, '.tmp'));
    const first = await startServer({ stateDir, heartbeatMs: 200 });
    const st = await lstat(path.join(dir, '.tmp'));
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o700);
    await waitSnap(stateDir, (s) => s.seq >= first.snap.seq + 3, 'three heartbeats');
    expect(await readdir(elsewhere)).toEqual([]);
    expect(first.proc.stderr.join('\n')).toMatch(/removed a symbolic link in the place of the temp directory/);
    await first.proc.stop('SIGKILL');

    // What a writer killed mid-write leaves, in .tmp/ and (earlier builds) beside the snapshot.
    await writeFile(path.join(dir, '.tmp', 'snapshot.json.123456'), '{"half":');
    await writeFile(path.join(dir, 'snapshot.json.654321'), '{"half":');
    await writeFile(path.join(dir, '.tmp', 'not-ours'), 'kept');
    await startServer({ stateDir });
    expect(await readdir(path.join(dir, '.tmp'))).toEqual(['not-ours']);
    expect((await readdir(dir)).filter((n) => /^snapshot\.json\.\d+$/.test(n))).toEqual([]);
  });

  it('is made again when removed while the server runs, and the snapshot goes on', async () => {
    const { stateDir, snap } = await startServer({ heartbeatMs: 200 });
    await rm(path.join(stateDir, 'default', '.tmp'), { recursive: true });
    const later = await waitSnap(stateDir, (s) => s.seq >= snap.seq + 3, 'three heartbeats after the removal');
    expect(later.status).toBe('running');
    expect((await stat(path.join(stateDir, 'default', '.tmp'))).isDirectory()).toBe(true);
  });
});

describe('the API\'s reader of the state directory', () => {
  it('watches the state directory and each server\'s .tmp/, never a server directory, and reads each write at once', async () => {
    const stateDir = await makeStateDir();
    await writeAsTheWriter(stateDir, 'a', 1);
    await writeAsTheWriter(stateDir, 'b', 1);
    // A check far slower than the test: only the watch can deliver.
    const w = await watcherOn(stateDir, 60_000);
    await waitFor(async () => {
      const watched = await watchedInodes();
      return watched.has(await inode(path.join(stateDir, 'a', '.tmp'))) && watched.has(await inode(path.join(stateDir, 'b', '.tmp')));
    }, { what: 'both .tmp/ watched' });
    const watched = await watchedInodes();
    expect(watched.has(await inode(stateDir))).toBe(true);
    expect(watched.has(await inode(path.join(stateDir, 'a')))).toBe(false);
    expect(watched.has(await inode(path.join(stateDir, 'b')))).toBe(false);
    for (let seq = 2; seq <= 6; seq++) {
      await writeAsTheWriter(stateDir, 'a', seq);
      await waitFor(() => w.get('a')?.snapshot?.seq === seq, { what: `a at seq ${seq}` });
    }
    // A new server: found by its directory's appearance, then followed by its .tmp/.
    await writeAsTheWriter(stateDir, 'c', 1);
    await waitFor(() => w.get('c')?.snapshot?.seq === 1, { what: 'the new server c' });
    await writeAsTheWriter(stateDir, 'c', 2);
    await waitFor(() => w.get('c')?.snapshot?.seq === 2, { what: 'c at seq 2' });
    expect(w.get('b')?.snapshot?.seq).toBe(1);
  });

  it('follows a .tmp/ removed and made again from the next check, and a snapshot replaced by hand at that check', async () => {
    const stateDir = await makeStateDir();
    await writeAsTheWriter(stateDir, 'a', 1);
    const w = await watcherOn(stateDir, 200);
    const oldTemp = await inode(path.join(stateDir, 'a', '.tmp'));
    await waitFor(async () => (await watchedInodes()).has(oldTemp), { what: 'the first .tmp/ watched' });
    await rm(path.join(stateDir, 'a', '.tmp'), { recursive: true });
    await writeAsTheWriter(stateDir, 'a', 2);
    // Often the inode just freed: the reader must still see a new directory.
    const newTemp = await inode(path.join(stateDir, 'a', '.tmp'));
    await waitFor(() => w.get('a')?.snapshot?.seq === 2, { what: 'seq 2, by the check' });
    await waitFor(async () => (await watchedInodes()).has(newTemp), { what: 'the new .tmp/ watched' });
    await writeAsTheWriter(stateDir, 'a', 3);
    await waitFor(() => w.get('a')?.snapshot?.seq === 3, { what: 'seq 3' });
    // Written in place, as no writer does: the check finds it.
    const text = (await readFile(path.join(stateDir, 'a', 'snapshot.json'), 'utf8')).replace('"seq":3', '"seq":4');
    await writeFile(path.join(stateDir, 'a', 'snapshot.json'), text);
    await waitFor(() => w.get('a')?.snapshot?.seq === 4, { what: 'seq 4, written by hand' });
  });
});
