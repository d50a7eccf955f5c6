/**
 * The floor of (2), as two processes: `writer` replaces a one-line file by a bare write + rename
 * (no fsync) when its parent asks, with its start time in the line; `watcher` watches the
 * directory with raw fs.watch, reads and parses the file on each event and reports when it saw
 * which write. Times are CLOCK_MONOTONIC, comparable across processes.
 */
import { watch } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { nowMs } from './lib/clock.js';

const [role, dir, sizeArg] = process.argv.slice(2);
const target = path.join(dir!, 'snapshot.json');
const send = (m: unknown) => process.send!(m);

if (role === 'writer') {
  const size = Number(sizeArg);
  process.on('message', (m: { seq: number }) => {
    void (async () => {
      const t = nowMs();
      const head = JSON.stringify({ seq: m.seq, t, pad: '' });
      // Padded to the byte size of the real snapshot, newline included.
      const line = `${head.slice(0, -2)}${'x'.repeat(Math.max(0, size - head.length - 1))}"}\n`;
      const tmp = `${target}.${m.seq}`;
      await writeFile(tmp, line);
      await rename(tmp, target);
      send({ wrote: m.seq });
    })();
  });
  send({ ready: true });
} else if (role === 'watcher') {
  let last = 0;
  let reading = false;
  let again = false;
  const read = async () => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    do {
      again = false;
      try {
        const j = JSON.parse(await readFile(target, 'utf8')) as { seq: number; t: number };
        const seenAt = nowMs();
        if (j.seq > last) {
          last = j.seq;
          send({ seq: j.seq, ms: seenAt - j.t });
        }
      } catch (err) {
        // ENOENT before the first write: there is nothing to see yet.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    } while (again);
    reading = false;
  };
  const w = watch(dir!, (_event, name) => {
    if (name === 'snapshot.json') void read();
  });
  process.on('disconnect', () => w.close());
  send({ ready: true });
} else {
  throw new Error(`floor-proc: unknown role ${role}`);
}
