/**
 * SnapshotWriter's start()/close() on its own, with a real WriterLock in a temp state directory:
 * start once, close the same promise, and nothing written (no heartbeat either) after close or
 * by a start that a close overtook, which would clobber the previous writer's counters.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { SnapshotWriter } from '../server/publish/snapshot-writer.js';
import { WriterLock } from '../server/publish/writer-lock.js';
import { parseSnapshot, type Snapshot } from '../shared/snapshot.js';
import { connectionOf } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

const silent = pino({ level: 'silent' });
const HEARTBEAT_MS = 20;
const closers: (() => Promise<void>)[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-writer-'));
  dirs.push(dir);
  return dir;
}

/** A writer of `serverId` under its lock, taken; every snapshot it writes is in `written`. */
async function writerOf(dir: string, serverId = 's', registry = new SessionRegistry()) {
  const lock = new WriterLock({ stateDir: dir, serverId, logger: silent });
  const writer = new SnapshotWriter({ stateDir: dir, serverId, heartbeatMs: HEARTBEAT_MS, registry, lock, logger: silent });
  const written: Snapshot[] = [];
  writer.on('written', (s) => written.push(s));
  closers.push(() => lock.close(), () => writer.close());
  await lock.start();
  return { lock, writer, registry, written };
}

const fileOf = (dir: string, serverId = 's') => path.join(dir, serverId, 'snapshot.json');
const textOf = (dir: string): Promise<string | undefined> =>
  readFile(fileOf(dir), 'utf8').catch((err: NodeJS.ErrnoException) => {
    // ENOENT: never written, which is what some cases expect.
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });

/**
 * Waits for several heartbeats of another writer with the same heartbeat: a writer that still
 * had a timer running would have written meanwhile.
 */
async function heartbeatsElsewhere(dir: string): Promise<void> {
  const clock = await writerOf(dir, 'clock');
  await clock.writer.start();
  await waitFor(() => clock.written.filter((s) => s.reason === 'heartbeat').length >= 3, { what: 'three heartbeats of another writer' });
}

describe('SnapshotWriter lifecycle', () => {
  it('start() twice throws; close() returns the same promise; the last snapshot is `stopped` with nothing listed', async () => {
    const dir = await stateDir();
    const { writer, registry, written } = await writerOf(dir);
    await writer.start();
    await expect(writer.start()).rejects.toThrow(/already started/);
    registry.add(connectionOf('a'));
    writer.connected();
    await waitFor(() => written.some((s) => s.reason === 'heartbeat'), { what: 'a heartbeat' });
    const closing = writer.close();
    expect(writer.close()).toBe(closing);
    await closing;
    const last = parseSnapshot(await readFile(fileOf(dir), 'utf8'));
    expect(last).toMatchObject({ status: 'stopped', reason: 'shutdown', activeConnections: 0, connections: [], totalConnections: 1 });
    expect(last.seq).toBe(written.at(-1)!.seq);
  });

  it('writes nothing after close: no request, no markRunning or markStopping, no heartbeat', async () => {
    const dir = await stateDir();
    const { writer, registry, written } = await writerOf(dir);
    await writer.start();
    await writer.close();
    const before = await textOf(dir);
    const count = written.length;
    registry.add(connectionOf('late'));
    writer.connected();
    writer.activity();
    writer.request('heartbeat');
    await writer.markRunning({ url: 'http://127.0.0.1:1/mcp', endpoint: '/mcp', port: 1 });
    await writer.markStopping();
    await writer.flush();
    await heartbeatsElsewhere(dir);
    expect(written.length).toBe(count);
    expect(await textOf(dir)).toBe(before);
    expect(parseSnapshot(before!).status).toBe('stopped');
  });

  it('close() before start(): start() writes nothing and starts no heartbeat', async () => {
    const dir = await stateDir();
    const { writer, written } = await writerOf(dir);
    await writer.close();
    await writer.start();
    await writer.markRunning({ url: 'http://127.0.0.1:1/mcp', endpoint: '/mcp', port: 1 });
    await heartbeatsElsewhere(dir);
    expect(written).toEqual([]);
    expect(await textOf(dir)).toBeUndefined();
  });

  it('close() during start(): nothing written, so the previous writer’s counters stay as they were', async () => {
    const dir = await stateDir();
    const first = await writerOf(dir);
    await first.writer.start();
    first.registry.add(connectionOf('a'));
    first.registry.remove('a', 'delete');
    first.writer.disconnected({ reason: 'delete' });
    await first.writer.close();
    await first.lock.close();
    const before = await textOf(dir);
    expect(parseSnapshot(before!)).toMatchObject({ status: 'stopped', totalConnections: 1, sessionsClosed: { delete: 1 } });

    const next = await writerOf(dir);
    const starting = next.writer.start();
    await next.writer.close();
    await starting;
    await heartbeatsElsewhere(dir);
    expect(next.written).toEqual([]);
    expect(await textOf(dir)).toBe(before);
  });

  it('markStopping() during start(): every snapshot written carries the previous writer’s counters on', async () => {
    const dir = await stateDir();
    const first = await writerOf(dir);
    await first.writer.start();
    first.registry.add(connectionOf('a'));
    first.writer.connected();
    await first.writer.close();
    await first.lock.close();
    const prev = parseSnapshot((await textOf(dir))!);

    const next = await writerOf(dir);
    const starting = next.writer.start();
    await next.writer.markStopping();
    await starting;
    await next.writer.close();
    expect(next.written.length).toBeGreaterThan(0);
    for (const s of next.written) {
      expect(s.totalConnections).toBe(1);
      expect(s.seq).toBeGreaterThan(prev.seq);
    }
    expect(next.written.at(-1)!.status).toBe('stopped');
  });
});
