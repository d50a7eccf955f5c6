/**
 * A supervised child's stdout and stderr, line by line, into the API's log: a pino line of the
 * child keeps its level and fields; any other line (a user's `--entry` may print anything) is
 * logged as text.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';

/** Pipes the output of `child` into `logger` (a child logger with its pid) until the streams end. */
export function pipeChildOutput(child: ChildProcess, logger: Logger): void {
  const log = logger.child({ childPid: child.pid });
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      let rec: Record<string, unknown> | undefined;
      try {
        const v: unknown = JSON.parse(line);
        if (typeof v === 'object' && v !== null && typeof (v as { level?: unknown }).level === 'number') rec = v as Record<string, unknown>;
      } catch {
        // Not a pino line: logged as text below.
      }
      if (!rec) return log.info({ line }, 'child output');
      const { level, msg, time: _t, pid: _p, hostname: _h, name: _n, ...fields } = rec;
      const lvl = level as number;
      const method = lvl >= 50 ? 'error' : lvl >= 40 ? 'warn' : lvl >= 30 ? 'info' : 'debug';
      log[method]({ child: fields }, String(msg ?? ''));
    });
  }
}
