/** wrap's log file on a real file system: 0600, rotated at its size into one old file, never through a link. */
import { lstat, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WrapLogFile } from '../server/backends/wrap/wrap-log-file.js';
import { cleanup, makeStateDir } from './helpers/processes.js';

afterEach(cleanup);

describe('WrapLogFile', () => {
  it('queues lines until opened, writes them in order with mode 0600, rotates into one old file', async () => {
    const dir = await makeStateDir();
    const file = path.join(dir, 'wrap.log');
    const old = path.join(dir, 'wrap.1.log');
    const log = new WrapLogFile(4096);
    log.write('first\n');
    await log.open(file, old);
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 200; i += 1) log.write(line);
    await log.close();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(file)).size).toBeLessThanOrEqual(4096);
    expect((await stat(old)).size).toBeLessThanOrEqual(4096);
    // One old file only: what came before it is gone, and the newest lines are in the log.
    expect((await readFile(file, 'utf8')).endsWith(line)).toBe(true);
    expect(log.dropped).toBe(0);
  });

  it('a symbolic link planted at the log is refused, and its target left alone', async () => {
    const dir = await makeStateDir();
    const target = path.join(dir, 'target');
    await writeFile(target, 'keep');
    const file = path.join(dir, 'wrap.log');
    await symlink(target, file);
    const log = new WrapLogFile();
    await expect(log.open(file, path.join(dir, 'wrap.1.log'))).rejects.toMatchObject({ code: 'ELOOP' });
    log.write('line\n');
    await log.close();
    expect(await readFile(target, 'utf8')).toBe('keep');
    expect((await lstat(file)).isSymbolicLink()).toBe(true);
  });
});
