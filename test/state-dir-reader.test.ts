/**
 * The state-directory follower that the API's SnapshotWatcher and `tail` share, against real
 * files and real chokidar: its lifecycle (start twice throws, close is one promise, close during
 * start leaves nothing running) and what it finds after start.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SNAPSHOT_FILE } from '../shared/paths.js';
import { StateDirReader, findSnapshotServers, isFileKey, snapshotKey, type StateDirReaderOptions } from '../shared/io/state-dir-reader.js';
import { SNAPSHOT_SCHEMA } from '../shared/snapshot.js';
import { cleanup, makeStateDir } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

const readers: StateDirReader[] = [];
afterEach(async () => {
  await Promise.all(readers.splice(0).map((r) => r.close()));
  await cleanup();
});

/** What a reader did: the keys each server was read with, the followers closed, the errors. */
interface Log {
  reads: Map<string, string[]>;
  closed: string[];
  errors: Error[];
}

function readerOn(stateDir: string, over: Partial<StateDirReaderOptions> = {}): { reader: StateDirReader; log: Log } {
  const log: Log = { reads: new Map(), closed: [], errors: [] };
  const reader = new StateDirReader({
    stateDir,
    files: [SNAPSHOT_FILE],
    // A rescan far slower than the test: only events and the settle re-read can deliver.
    rescanMs: 60_000,
    findServers: (isKnown) => findSnapshotServers(stateDir, isKnown),
    open: (serverId) => {
      log.reads.set(serverId, []);
      return {
        read: async (key) => void log.reads.get(serverId)!.push(key),
        close: async () => void log.closed.push(serverId),
      };
    },
    onError: (err) => log.errors.push(err),
    ...over,
  });
  readers.push(reader);
  return { reader, log };
}

/**
 * Follows the timers that the project's own code (not chokidar, not vitest, not a test) sets
 * from now until `stop()`: `pending()` lists, by where each was set, those neither fired nor
 * cleared. A count of the process's timers would see other tests' and libraries' come and go.
 */
function trackOwnTimers(): { pending(): string[]; stop(): void } {
  const own = path.resolve(import.meta.dirname, '..', 'shared') + path.sep;
  const live = new Map<unknown, string>();
  const real = { setTimeout, setInterval, clearTimeout, clearInterval };
  const setter = (set: typeof setTimeout | typeof setInterval, once: boolean) =>
    ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const where = new Error().stack!.split('\n').find((l) => l.includes(own) && !l.includes('node_modules'));
      const timer = set((...a: unknown[]) => {
        if (once) live.delete(timer);
        fn(...a);
      }, ms, ...args);
      if (where) live.set(timer, where.trim());
      return timer;
    }) as unknown as typeof setTimeout;
  const clearer = (clear: typeof clearTimeout) => ((timer?: Parameters<typeof clearTimeout>[0]) => {
    live.delete(timer);
    clear(timer);
  }) as typeof clearTimeout;
  Object.assign(globalThis, {
    setTimeout: setter(real.setTimeout, true),
    setInterval: setter(real.setInterval, false),
    clearTimeout: clearer(real.clearTimeout),
    clearInterval: clearer(real.clearInterval),
  });
  return { pending: () => [...live.values()], stop: () => void Object.assign(globalThis, real) };
}

async function writeSnapshot(stateDir: string, serverId: string, seq: number): Promise<void> {
  const now = new Date().toISOString();
  const dir = path.join(stateDir, serverId);
  await mkdir(dir, { recursive: true });
  // As the writer does: a temp file renamed over the snapshot.
  const tmp = path.join(dir, `${SNAPSHOT_FILE}.${seq}`);
  await writeFile(tmp, `${JSON.stringify({
    schema: SNAPSHOT_SCHEMA, serverId, pid: process.pid, seq, status: 'running', reason: 'heartbeat', startedAt: now, writtenAt: now,
    heartbeatMs: 60_000, mcp: null, activeConnections: 0, totalConnections: 0, lastUpdated: now, connections: [],
  })}\n`);
  await rename(tmp, path.join(dir, SNAPSHOT_FILE));
}

describe('snapshotKey', () => {
  it('is a file key only for a snapshot that exists', async () => {
    const stateDir = await makeStateDir();
    expect(isFileKey(await snapshotKey(stateDir, 'a'))).toBe(false);
    await writeFile(path.join(stateDir, 'b'), 'a file, not a server directory');
    expect(isFileKey(await snapshotKey(stateDir, 'b'))).toBe(false);
    await writeSnapshot(stateDir, 'a', 1);
    const key = await snapshotKey(stateDir, 'a');
    expect(isFileKey(key)).toBe(true);
    await writeSnapshot(stateDir, 'a', 2);
    expect(await snapshotKey(stateDir, 'a')).not.toBe(key);
  });
});

describe('StateDirReader', () => {
  it('throws on a second start, and gives the same promise to every close', async () => {
    const stateDir = await makeStateDir();
    const { reader } = readerOn(stateDir);
    await reader.start();
    expect(reader.running).toBe(true);
    await expect(reader.start()).rejects.toThrow(/StateDirReader already started/);
    const closing = reader.close();
    expect(reader.close()).toBe(closing);
    await closing;
    expect(reader.running).toBe(false);
  });

  it('reads the servers present at start, then a snapshot written after start', async () => {
    const stateDir = await makeStateDir();
    await writeSnapshot(stateDir, 'a', 1);
    const { reader, log } = readerOn(stateDir);
    await reader.start();
    expect(log.reads.get('a')).toHaveLength(1);
    const first = log.reads.get('a')![0];
    await writeSnapshot(stateDir, 'a', 2);
    await waitFor(() => log.reads.get('a')!.some((k) => k !== first), { what: 'the new file read' });
    expect(log.errors).toEqual([]);
  });

  it('finds a server directory that appears after start', async () => {
    const stateDir = await makeStateDir();
    const { reader, log } = readerOn(stateDir);
    await reader.start();
    expect(log.reads.size).toBe(0);
    await mkdir(path.join(stateDir, 'late'));
    // A directory without a snapshot is not a server yet.
    expect(reader.has('late')).toBe(false);
    await writeSnapshot(stateDir, 'late', 1);
    await waitFor(() => (log.reads.get('late')?.length ?? 0) > 0, { what: 'the late server read' });
    expect(reader.has('late')).toBe(true);
  });

  it('finds a state directory that appears after start, and its servers', async () => {
    const parent = await makeStateDir();
    const stateDir = path.join(parent, 'state');
    const { reader, log } = readerOn(stateDir, { rescanMs: 20 });
    await reader.start();
    expect(log.errors.length).toBeGreaterThan(0);
    expect(log.errors[0]!.message).toMatch(/Cannot list the state directory/);
    await writeSnapshot(stateDir, 'a', 1);
    await waitFor(() => (log.reads.get('a')?.length ?? 0) > 0, { what: 'the server of the new directory' });
    // Watched now: a change is read at once, not at the next check.
    const seen = log.reads.get('a')!.length;
    await writeSnapshot(stateDir, 'a', 2);
    await waitFor(() => log.reads.get('a')!.length > seen, { what: 'the change read' });
  });

  for (const when of ['at once', 'while it reads the first server', 'while it reads the one server of a missing directory'] as const) {
    it(`leaves nothing running when closed during start (${when})`, async () => {
      const missing = when === 'while it reads the one server of a missing directory';
      const stateDir = missing ? path.join(await makeStateDir(), 'state') : await makeStateDir();
      if (!missing) await writeSnapshot(stateDir, 'a', 1);
      let closing: Promise<void> | undefined;
      const { reader, log } = readerOn(stateDir, {
        // Without a watch (no directory yet) the timer is what would keep the process alive.
        ...(missing ? { serverId: 'a' } : {}),
        open: (serverId) => {
          log.reads.set(serverId, []);
          if (when !== 'at once') closing = reader.close();
          return { read: async (key) => void log.reads.get(serverId)!.push(key), close: async () => void log.closed.push(serverId) };
        },
      });
      const timers = trackOwnTimers();
      try {
        const starting = reader.start();
        if (when === 'at once') closing = reader.close();
        await starting;
        await closing;
      } finally {
        timers.stop();
      }
      expect(reader.running).toBe(false);
      // No rescan timer (nor settle timer) was left behind.
      expect(timers.pending()).toEqual([]);
      const readsAtClose = log.reads.get('a')?.length ?? 0;
      if (log.reads.has('a')) expect(log.closed).toEqual(['a']);
      // A live reader of the same directory sees the next write: by then the closed one would have too.
      // (A missing directory is found by a check, not by an event: check often.)
      const control = readerOn(stateDir, missing ? { rescanMs: 20 } : {});
      await control.reader.start();
      await writeSnapshot(stateDir, 'a', 2);
      await writeSnapshot(stateDir, 'b', 1);
      await waitFor(() => (control.log.reads.get('a')?.length ?? 0) >= (missing ? 1 : 2) && control.log.reads.has('b'), { what: 'the live reader to see both' });
      expect(log.reads.get('a')?.length ?? 0).toBe(readsAtClose);
      expect(log.reads.has('b')).toBe(false);
      expect(log.errors).toEqual([]);
    });
  }
});
