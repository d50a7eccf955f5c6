/**
 * (5) Scale: the product holding 100, 1,000 and 10,000 sessions (bare `initialize` POSTs, no
 * GET stream). At each size: the snapshot's bytes, the cost of one full write as the writer does
 * it (serialize + writeFileNoFollow with fsync, of that very snapshot, beside it), the API's
 * read + validate (the shared readSnapshotFile it uses), RSS of both processes, the latency of
 * (1) at that size, and whether the API ends on exactly the sessions that are open.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileNoFollow } from '../shared/io/write-file-no-follow.js';
import { FILE_MODE, snapshotPath } from '../shared/paths.js';
import { readSnapshotFile } from '../shared/io/read-snapshot.js';
import { serializeSnapshot } from '../shared/snapshot.js';
import { nowMs, waitUntil } from './lib/clock.js';
import { getJson, rawInitialize, type SseStream } from './lib/http.js';
import { rssMb, tempDir, removeDir, type Api } from './lib/procs.js';
import { measureLatency } from './latency.js';
import { dist, median, round } from './lib/stats.js';

/** Opens bare sessions, `concurrency` at a time, until `sids` holds `target`. */
export async function grow(api: Api, sids: string[], target: number, concurrency = 32): Promise<{ ms: number; perSec: number }> {
  const start = nowMs();
  const before = sids.length;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sids.length < target) {
        const slot = sids.push('') - 1;
        sids[slot] = await rawInitialize(api.mcpUrl);
      }
    }),
  );
  const ms = nowMs() - start;
  return { ms: round(ms, 1), perSec: round(((sids.length - before) / ms) * 1000, 1) };
}

/** Waits until the API shows `count` open sessions; resolves with the time it took. */
export async function visibleCount(api: Api, count: number, timeoutMs = 60_000): Promise<number> {
  const start = nowMs();
  await waitUntil(async () => (await getJson<{ activeConnections: number }>(`${api.url}/api/mcp/connections/count`)).activeConnections === count, timeoutMs, `${count} sessions in the API`, 2);
  return nowMs() - start;
}

export interface ScaleRow {
  sessions: number;
  snapshotBytes: number;
  writeMs: number;
  readMs: number;
  apiRssMb: number;
  childRssMb: number;
  latencyP50Ms: number;
  latencyRestP50Ms: number;
  latencySseP99Ms: number;
  /** Time to open the sessions of this step, and the rate. */
  growMs: number;
  opensPerSec: number;
  /** After the burst of opens: the last one -> the API shows the full count. */
  settleMs: number;
  /** The API's list is exactly the sessions open (none lost, none extra). */
  allSeen: boolean;
}

/** Measures one row; `latencyN` sessions per mode (or pass latencies measured already). */
export async function scaleRow(api: Api, sse: SseStream, sids: string[], growth: { ms: number; perSec: number }, settleMs: number, latencyN: number, reps = 5): Promise<ScaleRow> {
  const file = snapshotPath(api.stateDir, 'default');
  const bytes = (await stat(file)).size;
  const snap = await readSnapshotFile(file);
  const scratch = await tempDir('write');
  const writes: number[] = [];
  const reads: number[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      const t0 = nowMs();
      // What SnapshotWriter#drain does per write: serialize, then temp file (O_EXCL|O_NOFOLLOW), fsync, rename.
      await writeFileNoFollow(path.join(scratch, 'snapshot.json'), serializeSnapshot({ ...snap, seq: snap.seq + 1 + i, writtenAt: new Date().toISOString() }), { mode: FILE_MODE });
      writes.push(nowMs() - t0);
      const t1 = nowMs();
      await readSnapshotFile(file);
      reads.push(nowMs() - t1);
    }
  } finally {
    await removeDir(scratch);
  }
  const seen = await getJson<{ connections: { sessionId: string }[] }>(`${api.url}/api/mcp/connections`);
  const ids = new Set(seen.connections.map((c) => c.sessionId));
  const allSeen = ids.size === sids.length && sids.every((s) => ids.has(s));
  const apiRssMb = rssMb(api.apiPid);
  const childRssMb = rssMb(api.childPid);
  const viaSse = dist((await measureLatency(api, sse, 'sse', latencyN)).map((s) => s.ms));
  const viaRest = dist((await measureLatency(api, sse, 'rest', latencyN)).map((s) => s.ms));
  return {
    sessions: sids.length,
    snapshotBytes: bytes,
    writeMs: round(median(writes)),
    readMs: round(median(reads)),
    apiRssMb,
    childRssMb,
    latencyP50Ms: viaSse.p50,
    latencyRestP50Ms: viaRest.p50,
    latencySseP99Ms: viaSse.p99,
    growMs: growth.ms,
    opensPerSec: growth.perSec,
    settleMs: round(settleMs, 1),
    allSeen,
  };
}
