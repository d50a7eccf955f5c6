/**
 * A really full disk for tests: a 256 KiB tmpfs, filled to its last page. Mounting needs root and
 * a container that allows tmpfs mounts; {@link tmpfsRefusal} says why not where it cannot (the
 * cases are then skipped and their titles say why). Every mount is undone by {@link unmountAll}.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const mounts: string[] = [];

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    // Still busy (a handle not yet closed): detach it now, the kernel frees it when let go.
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  }
}

/** Unmounts and removes every tmpfs made so far. */
export async function unmountAll(): Promise<void> {
  for (const m of mounts.splice(0)) {
    unmount(m);
    await rm(m, { recursive: true, force: true });
  }
}

/** Why a tmpfs cannot be mounted here, or undefined when it can (tried once, then unmounted). */
export function tmpfsRefusal(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  const probe = execFileSync('mktemp', ['-d', path.join(os.tmpdir(), 'mcpmon-probe-XXXXXX')], { encoding: 'utf8' }).trim();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', probe], { stdio: 'pipe' });
    unmount(probe);
    return undefined;
  } catch (err) {
    return `mount -t tmpfs refused: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}`;
  } finally {
    execFileSync('rmdir', [probe]);
  }
}

/** A fresh 256 KiB tmpfs with a 0700 state directory in it. */
export async function smallTmpfs(): Promise<{ mount: string; stateDir: string }> {
  const mount = await mkdtemp(path.join(os.tmpdir(), 'mcpmon-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', mount]);
  mounts.push(mount);
  const stateDir = path.join(mount, 'state');
  await mkdir(stateDir, { mode: 0o700 });
  return { mount, stateDir };
}

/** Writes zeros into `file` until the file system has no page left. */
export async function fill(file: string): Promise<void> {
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) {
      const { bytesWritten } = await fh.write(chunk, 0, chunk.length);
      if (bytesWritten < chunk.length) break;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
}
