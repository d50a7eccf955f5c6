/**
 * What the API's watching costs per snapshot write, against the floor of watching: a real
 * snapshot (taken from a real child) is replaced the way the child does it (temp file, fsync,
 * rename) `RATE` times a second for `SECONDS`, in a state directory laid out like the child's
 * (lock, journal), while two watcher processes (bench/watch-cost-child.ts) follow it: the API's
 * SnapshotWatcher, and bare `fs.watch` + read + validate. Prints CPU ms per write of each.
 *
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/.bench/bench/watch-cost.js
 */
import { copyFile, mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { snapshotPath } from '../shared/paths.js';
import { nowMs, sleep, waitUntil } from './lib/clock.js';
import { BENCH_DIST, cleanupAll, cpuSeconds, spawnNode, startApi, stop, tempDir } from './lib/procs.js';

const RATE = Number(process.env.BENCH_WATCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 10);

async function main(): Promise<void> {
  // A real snapshot and a real server directory: what a child leaves after it ran.
  const api = await startApi();
  const real = snapshotPath(api.stateDir, 'default');
  const text = await readFile(real, 'utf8');
  const stateDir = await tempDir('watch');
  const dir = path.join(stateDir, 'default');
  await mkdir(dir, { recursive: true });
  await copyFile(real, path.join(dir, 'snapshot.json'));
  await writeFile(path.join(dir, 'events.jsonl'), '');
  await mkdir(path.join(dir, 'snapshot.json.lock'));
  await api.close();

  const watchers = ['api', 'raw'].map((mode) => {
    const child = spawnNode([path.join(BENCH_DIST, 'watch-cost-child.js'), mode, stateDir, 'default'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    let ready = false;
    let reads = -1;
    child.on('message', (m: { ready?: boolean; reads?: number }) => {
      if (m.ready) ready = true;
      if (m.reads !== undefined) reads = m.reads;
    });
    return { mode, child, isReady: () => ready, reads: async () => {
      reads = -1;
      child.send('reads?');
      return waitUntil(() => (reads >= 0 ? reads + 1 : undefined), 5000, 'reads').then((n) => n - 1);
    } };
  });
  await waitUntil(() => watchers.every((w) => w.isReady()), 10_000, 'the watchers');
  await sleep(1500); // past the watchers' own start-up work
  const cpu0 = watchers.map((w) => cpuSeconds(w.child.pid!));
  const seq0 = Number(/"seq":(\d+)/.exec(text)![1]);
  let writes = 0;
  const t0 = nowMs();
  while (nowMs() - t0 < SECONDS * 1000) {
    writes += 1;
    const line = text.replace(/"seq":\d+/, `"seq":${seq0 + writes}`);
    const tmp = path.join(dir, `snapshot.json.${process.pid}${writes}`);
    const fh = await open(tmp, 'wx', 0o600);
    await fh.writeFile(line);
    await fh.sync();
    await fh.close();
    await rename(tmp, path.join(dir, 'snapshot.json'));
    const next = t0 + (writes * 1000) / RATE;
    if (next > nowMs()) await sleep(next - nowMs());
  }
  await sleep(1500); // the settle re-reads and the last events
  const cpu = watchers.map((w, i) => cpuSeconds(w.child.pid!) - cpu0[i]!);
  const lines: string[] = [];
  for (const [i, w] of watchers.entries()) {
    const reads = await w.reads();
    lines.push(`${w.mode.padEnd(4)} ${(cpu[i]! * 1000).toFixed(0).padStart(6)} ms CPU for ${writes} writes = ${((cpu[i]! * 1000) / writes).toFixed(2)} ms/write; ${reads} snapshots read`);
  }
  process.stdout.write(`watch cost, ${writes} writes at ${RATE}/s (snapshot ${text.length} B):\n${lines.join('\n')}\n`);
  for (const w of watchers) {
    w.child.disconnect();
    await stop(w.child);
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`watch-cost: failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
process.exit(process.exitCode ?? 0);
