/**
 * `--cpu-prof` for processes the bench does not spawn itself (the API's child): Node 20 refuses
 * `--cpu-prof` in NODE_OPTIONS but accepts `--import=<this file>`. It starts V8's profiler at
 * load and writes `CPU.<pid>.cpuprofile` into `BENCH_CPU_PROFILE_DIR` when the process exits
 * (an in-thread inspector session answers synchronously, so this works in the 'exit' handler).
 * `BENCH_CPU_PROFILE_INTERVAL_US` sets the sampling interval (default 100).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_CPU_PROFILE_INTERVAL_US ?? 100) });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, r) => {
      if (!err) writeFileSync(path.join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(r.profile));
    });
  });
}
