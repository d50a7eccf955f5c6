/**
 * WriterLock on its own, in this process: a lock taken away and taken by another writer is
 * noticed by verify() before any write, reported once, and never removed by us afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LockCompromisedError, WriterLock, WriterLockedError } from '../server/publish/writer-lock.js';
import { ROOT, cleanup, makeStateDir } from './helpers/processes.js';

const silent = pino({ level: 'silent' });
const locks: WriterLock[] = [];

afterEach(async () => {
  await Promise.all(locks.splice(0).map((l) => l.close()));
  await cleanup();
});

function makeLock(stateDir: string, options: { lockWaitMs?: number } = {}): WriterLock {
  const lock = new WriterLock({ stateDir, serverId: 's', logger: silent, retryMs: 20, ...options });
  locks.push(lock);
  return lock;
}

describe('WriterLock', () => {
  it('holds, verifies, releases once, and refuses a second start', async () => {
    const stateDir = await makeStateDir();
    const lock = makeLock(stateDir);
    await lock.start();
    expect(lock.held).toBe(true);
    expect(() => lock.start()).toThrow(/already started/);
    await lock.verify();
    expect((await stat(lock.path)).mode & 0o777).toBe(0o700);
    await Promise.all([lock.close(), lock.close()]);
    expect(lock.held).toBe(false);
    await expect(stat(lock.path)).rejects.toThrow(/ENOENT/);
  });

  it('notices a lock taken by another writer before the next write, and leaves that lock alone', async () => {
    const stateDir = await makeStateDir();
    const lock = makeLock(stateDir);
    await lock.start();
    const lost: Error[] = [];
    lock.on('compromised', (e) => lost.push(e));
    // Removed by hand, then taken by another writer (a new directory at the same path).
    await rm(lock.path, { recursive: true });
    await mkdir(lock.path);
    const theirs = await stat(lock.path);
    await expect(lock.verify()).rejects.toBeInstanceOf(LockCompromisedError);
    await expect(lock.verify()).rejects.toThrow(/taken by another writer/);
    expect(lost).toHaveLength(1);
    expect(lock.held).toBe(false);
    await lock.close();
    // Still theirs: neither our release nor proper-lockfile's removed it.
    expect((await stat(lock.path)).ino).toBe(theirs.ino);
  });

  it('does not let proper-lockfile remove the other writer\'s lock when this process exits', async () => {
    const stateDir = await makeStateDir();
    const lockDir = path.join(stateDir, 's', 'snapshot.json.lock');
    // A process that takes the lock, sees it replaced by another writer's, and exits.
    const script = `
      import { mkdirSync, rmSync } from 'node:fs';
      import pino from 'pino';
      import { WriterLock } from './dist/server/publish/writer-lock.js';
      const lock = new WriterLock({ stateDir: ${JSON.stringify(stateDir)}, serverId: 's', logger: pino({ level: 'silent' }) });
      await lock.start();
      rmSync(lock.path, { recursive: true });
      mkdirSync(lock.path);
      await lock.verify().catch(() => undefined);
      process.exit(lock.compromised ? 0 : 3);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect((await stat(lockDir)).isDirectory()).toBe(true);
  });

  it('refuses to start while another live lock holder is fresh, once the wait is over', async () => {
    const stateDir = await makeStateDir();
    const first = makeLock(stateDir);
    await first.start();
    const second = makeLock(stateDir, { lockWaitMs: 100 });
    await expect(second.start()).rejects.toBeInstanceOf(WriterLockedError);
    expect(first.held).toBe(true);
    await first.verify();
  });
});
