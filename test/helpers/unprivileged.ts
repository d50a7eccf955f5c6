/**
 * What a test needs to run the product as another user (the tests run as root). A checkout in a
 * directory only root may enter (`git clone . "$(mktemp -d)"` makes one, 0700) cannot be read
 * by that user: such tests then use a copy of the product, hard-linked where the filesystem
 * allows it, in a directory every user may enter.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BIN, ROOT } from './processes.js';

/** The unprivileged user of the tests. */
export const NOBODY = 65534;

/** What the product needs at run time. */
const PARTS = ['package.json', 'bin', 'dist', 'node_modules'];

let copy: Promise<string> | undefined;

/** A root of the product (with bin/, dist/, node_modules/) that {@link NOBODY} can read: the checkout itself when it can. */
export function rootForNobody(): Promise<string> {
  copy ??= (async () => {
    const probe = spawnSync(process.execPath, ['-e', `require('node:fs').accessSync(${JSON.stringify(BIN)}, require('node:fs').constants.R_OK)`], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
    if (probe.status === 0) return ROOT;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-for-nobody-'));
    await chmod(dir, 0o755);
    const from = PARTS.map((p) => path.join(ROOT, p));
    try {
      execFileSync('cp', ['-al', ...from, dir], { stdio: 'ignore' });
    } catch {
      // Another filesystem: hard links cannot cross it; a copy then.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir);
      await chmod(dir, 0o755);
      execFileSync('cp', ['-a', ...from, dir], { stdio: 'ignore' });
    }
    return dir;
  })();
  return copy;
}

/** Removes the copy, if one was made. */
export async function removeCopyForNobody(): Promise<void> {
  const dir = await copy;
  copy = undefined;
  if (dir && dir !== ROOT) await rm(dir, { recursive: true, force: true });
}
