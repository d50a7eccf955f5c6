/**
 * (3) The polling design, in the same run: a parent polls a child's map every `intervalMs`.
 * Changes land at uniformly random times over a whole number of intervals; the latency of each
 * is the time until the first poll that shows it.
 */
import path from 'node:path';
import { nowMs, sleep, waitUntil } from './lib/clock.js';
import { getJson } from './lib/http.js';
import { BENCH_DIST, spawnNode, stop } from './lib/procs.js';

export async function measurePolling(changes: number, intervalMs: number, periods: number): Promise<number[]> {
  const child = spawnNode([path.join(BENCH_DIST, 'polling-child.js')], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const changedAt = new Map<string, number>();
  const seenAt = new Map<string, number>();
  let port: number | undefined;
  child.on('message', (m: { port?: number; added?: string; at?: number }) => {
    if (m.port) port = m.port;
    if (m.added) changedAt.set(m.added, m.at!);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await waitUntil(() => port !== undefined, 10_000, 'the polling child');
    const poll = async () => {
      const body = await getJson<{ connections: { sessionId: string }[] }>(`http://127.0.0.1:${port}/`);
      const t = nowMs();
      for (const c of body.connections) if (!seenAt.has(c.sessionId)) seenAt.set(c.sessionId, t);
    };
    await poll();
    timer = setInterval(() => void poll(), intervalMs);
    const start = nowMs();
    const at = Array.from({ length: changes }, () => Math.random() * intervalMs * periods).sort((a, b) => a - b);
    for (let i = 0; i < at.length; i++) {
      const wait = start + at[i]! - nowMs();
      if (wait > 0) await sleep(wait);
      child.send({ add: `s${i}` });
    }
    await waitUntil(() => seenAt.size >= changes && changedAt.size >= changes, intervalMs * 3, 'every change polled', 20);
    return [...changedAt].map(([id, t]) => seenAt.get(id)! - t);
  } finally {
    clearInterval(timer);
    await stop(child);
  }
}
