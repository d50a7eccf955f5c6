/**
 * The API's SnapshotWatcher against real files written by another process: it always ends on
 * the final state of a burst (chokidar drops trailing events), never goes back to a lower seq,
 * and keeps the last good snapshot while the file is invalid.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SnapshotWatcher } from '../api/snapshot-watcher.js';
import { SNAPSHOT_SCHEMA, type Snapshot } from '../shared/snapshot.js';
import { cleanup, makeStateDir } from './helpers/processes.js';
import { replaceAsTheWriter } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

const watchers: SnapshotWatcher[] = [];
afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
  await cleanup();
});

async function watcherOn(stateDir: string): Promise<SnapshotWatcher> {
  // A rescan far slower than the test: only events and the settle re-read can deliver.
  const w = new SnapshotWatcher({ stateDir, logger: pino({ level: 'silent' }), rescanMs: 60_000 });
  watchers.push(w);
  await w.start();
  return w;
}

function snap(over: Partial<Snapshot>): string {
  const now = new Date().toISOString();
  return `${JSON.stringify({
    schema: SNAPSHOT_SCHEMA, serverId: 'w', pid: 100, seq: 1, status: 'running', reason: 'connect', startedAt: now, writtenAt: now,
    heartbeatMs: 60_000, mcp: null, activeConnections: 0, totalConnections: 0, lastUpdated: now, connections: [], ...over,
  })}\n`;
}

describe('SnapshotWatcher', () => {
  it('ends every burst of quick atomic writes on its last write', async () => {
    const stateDir = await makeStateDir();
    // The writer makes the server directory (and its .tmp/), as a child does once the API runs.
    const w = await watcherOn(stateDir);
    const file = path.join(stateDir, 'w', 'snapshot.json');
    const writer = spawn(process.execPath, [path.join(import.meta.dirname, 'fixtures', 'burst-writer.mjs'), file, '30', '2', '6'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: writer.stdout! });
    let bursts = 0;
    for await (const line of lines) {
      const { seq } = JSON.parse(line) as { seq: number };
      await waitFor(() => w.get('w')?.snapshot?.seq === seq, { timeout: 3000, what: `seq ${seq} after burst ${bursts}` });
      bursts += 1;
      writer.stdin!.write('next\n');
    }
    expect(bursts).toBe(30);
  });

  it('never goes back to a lower seq of the same writer, and follows a new writer', async () => {
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'w'));
    const file = path.join(stateDir, 'w', 'snapshot.json');
    const startedAt = '2026-01-01T00:00:00.000Z';
    await replaceAsTheWriter(file, snap({ seq: 10, startedAt }));
    const w = await watcherOn(stateDir);
    expect(w.get('w')?.snapshot?.seq).toBe(10);
    await replaceAsTheWriter(file, snap({ seq: 5, startedAt, activeConnections: 0 }));
    await w.refresh('w');
    expect(w.get('w')?.snapshot?.seq).toBe(10);
    // A later writer (new pid, later start) starts again at seq 1.
    await replaceAsTheWriter(file, snap({ seq: 1, pid: 200, startedAt: '2026-01-01T00:01:00.000Z' }));
    await waitFor(() => w.get('w')?.snapshot?.pid === 200, { what: 'the new writer' });
    expect(w.get('w')?.snapshot?.seq).toBe(1);
  });

  it('follows a new writer whose clock is an hour behind the last one', async () => {
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'w'));
    const file = path.join(stateDir, 'w', 'snapshot.json');
    const now = Date.now();
    await replaceAsTheWriter(file, snap({ pid: 100, seq: 40, startedAt: new Date(now).toISOString() }));
    const w = await watcherOn(stateDir);
    const seen: Snapshot[] = [];
    w.on('snapshot', (s) => seen.push(s));
    expect(w.get('w')?.snapshot?.pid).toBe(100);
    // The next child started after the wall clock stepped back an hour.
    await replaceAsTheWriter(file, snap({ pid: 200, seq: 1, startedAt: new Date(now - 3_600_000).toISOString() }));
    await waitFor(() => seen.some((s) => s.pid === 200), { what: 'the second writer emitted' });
    expect(w.get('w')?.snapshot).toMatchObject({ pid: 200, seq: 1 });
    // The same pid with another start (a container's child is always pid 7) is a new writer too.
    await replaceAsTheWriter(file, snap({ pid: 200, seq: 1, activeConnections: 0, startedAt: new Date(now - 7_200_000).toISOString() }));
    await w.refresh('w');
    expect(seen.at(-1)?.startedAt).toBe(new Date(now - 7_200_000).toISOString());
  });

  it('records a file it cannot stat once and does not read it again on every rescan', async () => {
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'w'));
    await writeFile(path.join(stateDir, 'w', 'snapshot.json'), snap({ serverId: 'w', seq: 1 }));
    const w = await watcherOn(stateDir);
    expect(w.get('w')?.snapshot?.seq).toBe(1);
    // The server directory becomes a file: stat and read fail with ENOTDIR (EACCES cannot be
    // made as root; a link loop hangs chokidar itself).
    await rm(path.join(stateDir, 'w'), { recursive: true });
    await writeFile(path.join(stateDir, 'w'), 'not a directory');
    await waitFor(async () => {
      await w.rescan();
      return w.get('w')?.error?.code === 'ENOTDIR';
    }, { what: 'the ENOTDIR error' });
    expect(w.get('w')?.error?.message).toMatch(/snapshot\.json: not a directory/);
    expect(w.get('w')?.snapshot?.seq).toBe(1);
    const readAt = w.get('w')!.readAt!;
    for (let i = 0; i < 3; i += 1) {
      const t = Date.now();
      await waitFor(() => Date.now() > t, { what: 'the clock to move' });
      await w.rescan();
    }
    expect(w.get('w')?.readAt).toBe(readAt);
  });

  it('keeps the last good snapshot while the file is invalid, and reports why', async () => {
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'w'));
    const file = path.join(stateDir, 'w', 'snapshot.json');
    await replaceAsTheWriter(file, snap({ seq: 3 }));
    const w = await watcherOn(stateDir);
    const invalid: string[] = [];
    for (const bad of ['', 'not json', '{"schema":"other@1"}', snap({ seq: 4 }).replace('"serverId":"w"', '"serverId":"elsewhere"'), snap({ seq: 4, activeConnections: 2 })]) {
      await replaceAsTheWriter(file, bad);
      await w.refresh('w');
      expect(w.get('w')?.snapshot?.seq).toBe(3);
      expect(w.get('w')?.error?.code).toBe('EINVALID');
      invalid.push(w.get('w')!.error!.message);
    }
    expect(invalid.join('\n')).toMatch(/is empty/);
    expect(invalid.join('\n')).toMatch(/not JSON/);
    expect(invalid.join('\n')).toMatch(/schema is "other@1"/);
    expect(invalid.join('\n')).toMatch(/in the directory of "w"/);
    expect(invalid.join('\n')).toMatch(/activeConnections is 2 but connections has 0 entries/);
    await replaceAsTheWriter(file, snap({ seq: 4 }));
    await waitFor(() => w.get('w')?.snapshot?.seq === 4 && !w.get('w')?.error, { what: 'recovery' });
  });

  it('finds a server whose directory appears after it started', async () => {
    const stateDir = await makeStateDir();
    const w = await watcherOn(stateDir);
    expect(w.list()).toEqual([]);
    await mkdir(path.join(stateDir, 'late'));
    await writeFile(path.join(stateDir, 'late', 'snapshot.json'), snap({ serverId: 'late', seq: 7 }));
    await waitFor(() => w.get('late')?.snapshot?.seq === 7, { what: 'the late server' });
  });
});
