/**
 * (2) The floor: how fast a bare rename of a one-line file of the same size reaches a directory
 * watch in a second process (write start -> parsed by the reader).
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { sleep } from './lib/clock.js';
import { BENCH_DIST, removeDir, spawnNode, stop, tempDir } from './lib/procs.js';

function message<T>(child: ChildProcess, pred: (m: any) => boolean, timeoutMs: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('message', on);
      resolve(undefined);
    }, timeoutMs);
    const on = (m: any) => {
      if (!pred(m)) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

export interface FloorRound {
  ms: number[];
  /** Writes the watcher never reported (fs.watch coalescing). */
  missed: number;
}

export async function measureFloor(n: number, bytes: number): Promise<FloorRound> {
  const dir = await tempDir('floor');
  const script = path.join(BENCH_DIST, 'floor-proc.js');
  const stdio = ['ignore', 'ignore', 'inherit', 'ipc'] as const;
  const watcher = spawnNode([script, 'watcher', dir], { stdio: [...stdio] });
  const writer = spawnNode([script, 'writer', dir, String(bytes)], { stdio: [...stdio] });
  try {
    await Promise.all([message(watcher, (m) => m.ready, 10_000), message(writer, (m) => m.ready, 10_000)]);
    const ms: number[] = [];
    let missed = 0;
    for (let seq = 1; seq <= n; seq++) {
      const seen = message<{ ms: number }>(watcher, (m) => m.seq >= seq, 2000);
      writer.send({ seq });
      const m = await seen;
      if (m) ms.push(m.ms);
      else missed += 1;
      await sleep(2 + Math.random() * 15);
    }
    return { ms, missed };
  } finally {
    await Promise.all([stop(writer), stop(watcher)]);
    await removeDir(dir);
  }
}
