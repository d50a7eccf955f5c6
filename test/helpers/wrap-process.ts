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

  /**
   * Its resident memory now and at its peak (VmRSS, VmHWM of /proc/<pid>/status), bytes;
   * undefined once it is gone, and while it is a zombie (exited, not yet reaped), whose status
   * has no memory lines.
   */
  memory(): { rss: number; peak: number } | undefined {
    let status: string;
    try {
      status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    } catch (err) {
      // Gone (reaped): nothing to read.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
      throw err;
    }
    const kb = (k: string) => /^(\d+) kB$/.exec(new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '')?.[1];
    const rss = kb('VmRSS');
    const peak = kb('VmHWM');
    return rss === undefined || peak === undefined ? undefined : { rss: Number(rss) * 1024, peak: Number(peak) * 1024 };
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
