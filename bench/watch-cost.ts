/**
 * What the API's watching costs per snapshot write, against the floor of watching: a real
 * snapshot (taken from a real child) is replaced the way the child does it (temp file, fsync,
 * rename) `RATE` times a second for `SECONDS`, in a state directory laid out like the child's
 * (lock, journal), while two watcher processes (bench/watch-cost-child.ts) follow it: the API's
 * SnapshotWatcher, and bare `fs.watch` + read + validate. Prints CPU ms per write of each.
 * `BENCH_WATCH_SERVERS=50 BENCH_WATCH_RATE=25` spreads the writes over 50 server directories,
 * as a fleet of 50 children heartbeating every 2 s does (each directory's events then come
 * too far apart for chokidar's once-a-second re-listing throttle to merge them).
 * `BENCH_WATCH_PROF=<dir>` writes a V8 CPU profile of the API's watcher there.
 *
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/.bench/bench/watch-cost.js
 */
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { snapshotPath } from '../shared/paths.js';
import { nowMs, sleep, waitUntil } from './lib/clock.js';
import { BENCH_DIST, cleanupAll, cpuSeconds, spawnNode, startApi, stop, tempDir } from './lib/procs.js';

const RATE = Number(process.env.BENCH_WATCH_RATE ?? 50);
const SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 10);
const SERVERS = Number(process.env.BENCH_WATCH_SERVERS ?? 1);

/** The snapshot of server directory `dir` (its own server id) at `seq` (0: as it is). */
function textOf(dir: string, text: string, seq: number): string {
  const own = text.replace(/"serverId":"[^"]*"/, `"serverId":"${path.basename(dir)}"`);
  return seq === 0 ? own : own.replace(/"seq":\d+/, `"seq":${seq}`);
}

async function main(): Promise<void> {
  // A real snapshot and a real server directory: what a child leaves after it ran.
  const api = await startApi();
  const real = snapshotPath(api.stateDir, 'default');
  const text = await readFile(real, 'utf8');
  const stateDir = await tempDir('watch');
  const dirs = Array.from({ length: SERVERS }, (_, i) => path.join(stateDir, i === 0 ? 'default' : `s${i}`));
  for (const dir of dirs) {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'snapshot.json'), textOf(dir, text, 0));
    await writeFile(path.join(dir, 'events.jsonl'), '');
    await mkdir(path.join(dir, 'snapshot.json.lock'));
  }
  await api.close();

  const watchers = ['api', 'raw'].map((mode) => {
    const child = spawnNode([...(process.env.BENCH_WATCH_PROF && mode === 'api' ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_WATCH_PROF] : []), path.join(BENCH_DIST, 'watch-cost-child.js'), mode, stateDir, ...dirs.map((d) => path.basename(d))], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
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
    const dir = dirs[writes % dirs.length]!;
    const line = textOf(dir, text, seq0 + writes);
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
  process.stdout.write(`watch cost, ${writes} writes at ${RATE}/s over ${dirs.length} server directories (snapshot ${text.length} B):\n${lines.join('\n')}\n`);
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
