/**
 * A small tmpfs for the soak's state directory, so that a fault can fill it: every write of
 * the children (snapshots, journals, control) fails with ENOSPC until the filler is removed.
 * Mounting needs root on Linux (a container may refuse it): without it the soak runs on the
 * ordinary temp directory and says so, and the fault has nothing to act on.
 */
import { execFileSync } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';

/** Mounts a tmpfs of `mib` MiB on `dir`; false when this machine does not allow it. */
export function mountSmallDisk(dir: string, mib: number): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function unmountSmallDisk(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  } catch {
    // not mounted (any more)
  }
}

/** Fills the disk of `dir` to the last byte; returns the filler's path (remove it to free the room). */
export async function fillDisk(dir: string): Promise<string> {
  const file = path.join(dir, '.soak-filler');
  const fh = await open(file, 'w', 0o600);
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) await fh.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    await fh.close();
  }
  return file;
}

export async function freeDisk(filler: string): Promise<void> {
  await rm(filler, { force: true });
}
