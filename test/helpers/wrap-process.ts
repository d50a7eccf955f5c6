/**
 * `mcp-monitor wrap` spawned as a client would: stdin and stdout piped to the test (the client's
 * end), stderr collected; tracked so that `cleanupWraps()` leaves no wrapper and no CMD behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BIN, ROOT, isAlive } from './processes.js';

const wraps = new Set<WrapProc>();
/** Process groups of CMDs a test learned of, ended in cleanup whatever happened. */
export const cmdGroups = new Set<number>();

export class WrapProc {
  readonly child: ChildProcess;
  readonly out: Buffer[] = [];
  outBytes = 0;
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  /** `args` after `wrap`; `keep` false: stdout is counted, not kept. */
  constructor(args: string[], options: { env?: NodeJS.ProcessEnv; keep?: boolean } = {}) {
    this.child = spawn(process.execPath, [BIN, 'wrap', ...args], { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    wraps.add(this);
    const keep = options.keep ?? true;
    this.child.stdout!.on('data', (d: Buffer) => {
      this.outBytes += d.length;
      if (keep) this.out.push(d);
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => (this.stderr += d));
    this.child.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** What it wrote to stdout so far. */
  stdout(): Buffer {
    return Buffer.concat(this.out);
  }

  /** Its resident memory now and at its peak (VmRSS, VmHWM of /proc/<pid>/status), bytes. */
  memory(): { rss: number; peak: number } | undefined {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
      return { rss: kb('VmRSS'), peak: kb('VmHWM') };
    } catch {
      return undefined;
    }
  }
}

/** Kills every wrapper still running and every CMD group a test recorded. */
export async function cleanupWraps(): Promise<void> {
  await Promise.all(
    [...wraps].map(async (w) => {
      if (!w.exit) {
        w.child.kill('SIGKILL');
        await w.exited;
      }
      wraps.delete(w);
    }),
  );
  for (const g of cmdGroups) {
    if (isAlive(g)) {
      try {
        process.kill(-g, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  cmdGroups.clear();
}
