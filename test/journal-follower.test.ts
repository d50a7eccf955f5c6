/**
 * JournalFollower (what `tail` reads the journal with) against real files: appends, a torn line,
 * rotations by rename as the writer does them, one or two of them between two reads, a
 * rotation whose new file is not there yet, and following from the end.
 */
import { appendFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JournalFollower } from '../cli/journal-follower.js';
import { serializeJournalLine, type JournalLine } from '../shared/journal.js';
import { cleanup, makeStateDir } from './helpers/processes.js';

const followers: JournalFollower[] = [];
afterEach(async () => {
  await Promise.all(followers.splice(0).map((f) => f.close()));
  await cleanup();
});

const line = (id: string): string => serializeJournalLine({ event: 'connect', ts: '2026-11-24T10:00:00.000Z', pid: 7, seq: 1, sessionId: id });
const ids = (lines: JournalLine[]) => lines.map((l) => (l as { sessionId: string }).sessionId);

async function setup(options: { fromEnd?: boolean } = {}) {
  const dir = path.join(await makeStateDir(), 'default');
  await mkdir(dir);
  const file = path.join(dir, 'events.jsonl');
  const warnings: string[] = [];
  const f = new JournalFollower(file, { fromEnd: options.fromEnd, onWarning: (w) => warnings.push(w) });
  followers.push(f);
  const name = (n: number) => path.join(dir, n === 0 ? 'events.jsonl' : `events.${n}.jsonl`);
  /** Rotates as the JournalWriter does: every file one up (keeping `keep`), the current one to .1, a new empty current one. */
  const rotate = async (keep = 5, create = true) => {
    await rm(name(keep), { force: true });
    for (let n = keep - 1; n >= 0; n -= 1) await rename(name(n), name(n + 1)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    if (create) await writeFile(file, '');
  };
  return { dir, file, f, warnings, rotate };
}

describe('JournalFollower', () => {
  it('gives whole lines only, the rest once its newline comes', async () => {
    const { file, f, warnings } = await setup();
    await f.init();
    expect(await f.read()).toEqual([]);
    await writeFile(file, line('s1') + line('s2').slice(0, 20));
    expect(ids(await f.read())).toEqual(['s1']);
    await appendFile(file, line('s2').slice(20) + line('s3'));
    expect(ids(await f.read())).toEqual(['s2', 's3']);
    expect(await f.read()).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('starts at the end with fromEnd', async () => {
    const { file, f } = await setup({ fromEnd: true });
    await writeFile(file, line('old'));
    await f.init();
    await appendFile(file, line('new'));
    expect(ids(await f.read())).toEqual(['new']);
  });

  it('finishes the old file, then reads the new one, across one rotation', async () => {
    const { file, f, rotate } = await setup();
    await writeFile(file, line('s1'));
    expect(ids(await f.read())).toEqual(['s1']);
    await appendFile(file, line('s2'));
    await rotate();
    await appendFile(file, line('s3'));
    expect(ids(await f.read())).toEqual(['s2', 's3']);
  });

  it('loses no file when two rotations land between two reads', async () => {
    const { file, f, rotate, warnings } = await setup();
    await writeFile(file, line('s1'));
    expect(ids(await f.read())).toEqual(['s1']);
    await appendFile(file, line('s2'));
    await rotate();
    await appendFile(file, line('s3'));
    await rotate();
    await appendFile(file, line('s4'));
    expect(ids(await f.read())).toEqual(['s2', 's3', 's4']);
    await appendFile(file, line('s5'));
    expect(ids(await f.read())).toEqual(['s5']);
    expect(warnings).toEqual([]);
  });

  it('reads the newer rotated files even when its own file was rotated away for good', async () => {
    const { file, f, rotate } = await setup();
    await writeFile(file, line('s1'));
    expect(ids(await f.read())).toEqual(['s1']);
    // Three rotations with one rotated file kept: the file it had open is deleted.
    for (const id of ['s2', 's3', 's4']) {
      await appendFile(file, line(id));
      await rotate(1);
    }
    await appendFile(file, line('s5'));
    // s2 and s3 went with the deleted files; s4 is in events.1.jsonl.
    expect(ids(await f.read())).toEqual(['s2', 's4', 's5']);
  });

  it('waits for the new file after a rotation, then reads what came in between', async () => {
    const { file, f, rotate } = await setup();
    await writeFile(file, line('s1'));
    expect(ids(await f.read())).toEqual(['s1']);
    await rotate(5, false);
    expect(await f.read()).toEqual([]);
    // The next file is made, filled and rotated before the next read.
    await writeFile(file, line('s2'));
    await rotate();
    await appendFile(file, line('s3'));
    expect(ids(await f.read())).toEqual(['s2', 's3']);
  });

  it('warns about a torn last line once its file is rotated, and skips it', async () => {
    const { file, f, rotate, warnings } = await setup();
    await writeFile(file, line('s1') + line('torn').slice(0, 25));
    expect(ids(await f.read())).toEqual(['s1']);
    await rotate();
    await appendFile(file, line('s2'));
    expect(ids(await f.read())).toEqual(['s2']);
    expect(warnings).toEqual([`${file}: the last line is incomplete (a writer was killed mid-append, or is waiting for disk space); skipped`]);
  });
});
