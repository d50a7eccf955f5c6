/**
 * `tail`'s StateDirFollower reads a snapshot file again only when it changed: on every poll
 * of an unchanged file only its writer is judged again. The reads are counted by wrapping the
 * real functions (nothing is faked).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StateDirFollower } from '../cli/state-dir-follower.js';
import type { TailEvent } from '../cli/server-tracker.js';
import * as serverState from '../shared/io/server-state.js';
import { SNAPSHOT_SCHEMA } from '../shared/snapshot.js';
import { cleanup, makeStateDir } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

vi.mock('../shared/io/server-state.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../shared/io/server-state.js')>();
  return { ...real, readServerState: vi.fn(real.readServerState), judgeServerState: vi.fn(real.judgeServerState) };
});

const followers: StateDirFollower[] = [];
afterEach(async () => {
  await Promise.all(followers.splice(0).map((f) => f.close()));
  await cleanup();
  vi.mocked(serverState.readServerState).mockClear();
  vi.mocked(serverState.judgeServerState).mockClear();
});

async function writeSnapshot(dir: string, seq: number): Promise<void> {
  const now = new Date().toISOString();
  const tmp = path.join(dir, `snapshot.json.${seq}`);
  await writeFile(tmp, `${JSON.stringify({
    schema: SNAPSHOT_SCHEMA, serverId: 'default', pid: process.pid, seq, status: 'running', reason: 'heartbeat', startedAt: '2026-11-24T10:00:00.000Z', writtenAt: now,
    heartbeatMs: 60_000, mcp: null, activeConnections: 0, totalConnections: 0, lastUpdated: now, connections: [],
  })}\n`);
  await rename(tmp, path.join(dir, 'snapshot.json'));
}

describe('StateDirFollower', () => {
  it('does not read and parse an unchanged snapshot on every poll, and reads a new one', async () => {
    const stateDir = await makeStateDir();
    const dir = path.join(stateDir, 'default');
    await mkdir(dir);
    await mkdir(path.join(dir, 'snapshot.json.lock'));
    await writeSnapshot(dir, 1);
    const events: TailEvent[] = [];
    const f = new StateDirFollower({ stateDir, emit: (e) => events.push(e), warn: () => {}, pollMs: 10 });
    followers.push(f);
    await f.start();
    const reads = () => vi.mocked(serverState.readServerState).mock.calls.length;
    const judged = () => vi.mocked(serverState.judgeServerState).mock.calls.length;
    // Many polls of the same file.
    await waitFor(() => reads() + judged() >= 10, { what: 'ten polls' });
    // One read at start, one by the first poll (which learns the file's key); judged since.
    expect(reads()).toBeLessThanOrEqual(2);
    await writeSnapshot(dir, 2);
    await waitFor(() => reads() >= 3, { what: 'the new file read' });
    expect(events.filter((e) => e.event === 'state')).toHaveLength(1);
    const before = reads();
    await waitFor(() => judged() >= 20, { what: 'more polls' });
    expect(reads()).toBe(before);
  });
});
