/** WriterProbes on its own: start() once, close() the same promise, nothing looked at after it. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotWatcher } from '../api/snapshot-watcher.js';
import { WriterProbes } from '../api/writer-probes.js';
import { writeSnapshot } from './helpers/snapshot-files.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('WriterProbes', () => {
  it('start() twice throws; close() returns the same promise; a probe is of the writer it was taken of', async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-probes-'));
    dirs.push(stateDir);
    const snap = await writeSnapshot(stateDir, 'a', { connections: [] });
    const watcher = new SnapshotWatcher({ stateDir, logger: pino({ level: 'silent' }) });
    await watcher.start();
    const probes = new WriterProbes({ watcher, everyMs: 20 });
    probes.start();
    expect(() => probes.start()).toThrow(/already started/);
    await new Promise((r) => setTimeout(r, 100));
    expect(probes.probe('a', snap)).toMatchObject({ pidAlive: true });
    expect(probes.probe('a', { ...snap, startedAt: '2000-01-01T00:00:00.000Z' })).toBeUndefined();
    const closing = probes.close();
    expect(probes.close()).toBe(closing);
    await closing;
    await watcher.close();
  });

  it('start() after close() looks at nothing', async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-probes-'));
    dirs.push(stateDir);
    const snap = await writeSnapshot(stateDir, 'a', { connections: [] });
    const watcher = new SnapshotWatcher({ stateDir, logger: pino({ level: 'silent' }) });
    await watcher.start();
    const probes = new WriterProbes({ watcher, everyMs: 20 });
    await probes.close();
    probes.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(probes.probe('a', snap)).toBeUndefined();
    await watcher.close();
  });
});
