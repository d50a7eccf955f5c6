/**
 * The calls journal writer (server/publish/calls-journal.ts) on real files under a real writer
 * lock: the line of each finished request (bounded, without control characters), batches off the
 * request path, the bounded queue, rotation as events.jsonl's, a planted link refused, a really
 * full disk (a 256 KiB tmpfs) whose lost lines are counted, and writer restarts in processes of
 * their own (pid and seq change, the files stay).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCallLine, type CallLine } from '../shared/calls.js';
import type { FinishedRequest } from '../server/operations/finished-request.js';
import { CallsJournal, type CallsJournalOptions } from '../server/publish/calls-journal.js';
import { WriterLock } from '../server/publish/writer-lock.js';
import { cleanup, makeStateDir, ROOT } from './helpers/processes.js';
import { fill, smallTmpfs, tmpfsRefusal, unmountAll } from './helpers/small-tmpfs.js';
import { waitFor } from './helpers/wait-for.js';

const journals: CallsJournal[] = [];
const locks: WriterLock[] = [];

afterEach(async () => {
  await Promise.all(journals.splice(0).map((j) => j.close()));
  await Promise.all(locks.splice(0).map((l) => l.close()));
  await unmountAll();
  await cleanup();
});

const quiet = pino({ level: 'silent' });

/** A started journal of server `s` in `stateDir`, its lock held, and the errors it reports. */
async function journalIn(stateDir: string, options: Partial<CallsJournalOptions> = {}): Promise<{ j: CallsJournal; errors: string[]; file: string }> {
  const lock = new WriterLock({ stateDir, serverId: 's', logger: quiet });
  locks.push(lock);
  await lock.start();
  const j = new CallsJournal({ stateDir, serverId: 's', lock, logger: quiet, ...options });
  journals.push(j);
  const errors: string[] = [];
  j.on('error', (e) => errors.push(e.message));
  await j.start().catch((e: Error) => errors.push(`start: ${e.message}`));
  return { j, errors, file: path.join(stateDir, 's', 'calls.jsonl') };
}

function request(fields: Partial<FinishedRequest> = {}): FinishedRequest {
  return { endedAtMs: Date.now(), seconds: 0.0123456, sessionId: 'sess-1', era: 'legacy', client: 'test-client', method: 'tools/call', name: 'echo', outcome: 'ok', errorCode: null, answered: true, ...fields };
}

async function linesOf(file: string): Promise<CallLine[]> {
  const text = await readFile(file, 'utf8');
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text.split('\n').filter(Boolean).map(parseCallLine);
}

describe('the calls journal', () => {
  it('writes one bounded line per finished request, off the request path, 0600, with its own growing seq', async () => {
    const stateDir = await makeStateDir();
    const { j, errors, file } = await journalIn(stateDir);
    // Created at start, empty, private.
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const end = new Date('2026-12-04T10:00:00.123Z');
    j.finished(request({ endedAtMs: end.getTime() }));
    j.finished(request({ client: `evil\u001b]52;c;AAAA\u0007\u009b${'x'.repeat(400)}`, method: `m${'\u0000'.repeat(3)}${'y'.repeat(100)}`, name: `n\u001b[2J${'z'.repeat(300)}`, sessionId: null, era: 'modern', outcome: 'rejected', errorCode: -32602, seconds: 2 }));
    j.finished(request({ name: null, method: 'resources/read', outcome: 'error', errorCode: -32603, client: null }));
    // finished() only queued: nothing is on disk yet.
    expect(await readFile(file, 'utf8')).toBe('');
    await j.flush();
    const lines = await linesOf(file);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({ ts: '2026-12-04T10:00:00.123Z', seq: 1, pid: process.pid, sessionId: 'sess-1', era: 'legacy', client: 'test-client', method: 'tools/call', name: 'echo', durationMs: 12.346, outcome: 'ok', errorCode: null });
    expect(lines[1]).toMatchObject({ seq: 2, sessionId: null, era: 'modern', outcome: 'rejected', errorCode: -32602, durationMs: 2000 });
    expect(lines[1]!.client).toBe(`evil]52;c;AAAA${'x'.repeat(256 - 14)}`);
    expect(lines[1]!.client).toHaveLength(256);
    expect(lines[1]!.method).toBe(`m${'y'.repeat(63)}`);
    expect(lines[1]!.name).toBe(`n[2J${'z'.repeat(124)}`);
    expect(lines[2]).toMatchObject({ seq: 3, name: null, client: null, method: 'resources/read', outcome: 'error', errorCode: -32603 });
    expect(JSON.stringify(lines)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(errors).toEqual([]);

    // The timer writes a batch without being asked to.
    j.finished(request());
    await waitFor(async () => (await linesOf(file)).length === 4, { what: 'the timed batch' });
    await j.close();
    expect((await linesOf(file)).map((l) => l.seq)).toEqual([1, 2, 3, 4]);
  });

  it('drops and counts the lines past a full queue, and writes the queued ones at close', async () => {
    const stateDir = await makeStateDir();
    const { j, errors, file } = await journalIn(stateDir, { maxQueue: 5, flushMs: 60_000 });
    for (let i = 0; i < 8; i += 1) j.finished(request({ name: `t${i}` }));
    expect(j.dropped).toBe(3);
    await j.close();
    const lines = await linesOf(file);
    expect(lines.map((l) => [l.seq, l.name])).toEqual([[1, 't0'], [2, 't1'], [3, 't2'], [4, 't3'], [5, 't4']]);
    expect(errors).toEqual([expect.stringMatching(/^3 calls journal line\(s\) dropped: more than 5 waited for .*calls\.jsonl$/)]);
    // Closed: nothing more is taken.
    j.finished(request());
    expect(j.dropped).toBe(3);
  });

  it('rotates like events.jsonl: calls.1.jsonl … calls.N.jsonl, no file past maxBytes, every line whole and in order', async () => {
    const stateDir = await makeStateDir();
    const { j, errors, file } = await journalIn(stateDir, { maxBytes: 1024, files: 2, flushMs: 60_000 });
    for (let batch = 0; batch < 6; batch += 1) {
      for (let i = 0; i < 7; i += 1) j.finished(request({ name: `tool-${batch}-${i}` }));
      await j.flush();
    }
    await j.close();
    const dir = path.dirname(file);
    expect((await readdir(dir)).filter((n) => n.startsWith('calls')).sort()).toEqual(['calls.1.jsonl', 'calls.2.jsonl', 'calls.jsonl']);
    const all: CallLine[] = [];
    for (const name of ['calls.2.jsonl', 'calls.1.jsonl', 'calls.jsonl']) {
      const st = await stat(path.join(dir, name));
      expect(st.size).toBeLessThanOrEqual(1024);
      expect(st.mode & 0o777).toBe(0o600);
      all.push(...(await linesOf(path.join(dir, name))));
    }
    // The oldest were rotated away; what is kept is the newest, contiguous and in order.
    const seqs = all.map((l) => l.seq);
    expect(seqs.at(-1)).toBe(42);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 43 - seqs.length + i));
    expect(seqs.length).toBeLessThan(42);
    expect(errors).toEqual([]);
  });

  it('rotates by bytes, not characters: lines of multi-byte names keep every file within maxBytes, every line whole', async () => {
    const stateDir = await makeStateDir();
    const { j, errors, file } = await journalIn(stateDir, { maxBytes: 1024, files: 5, flushMs: 60_000 });
    // 3 bytes a character in UTF-8: a line is about 1.6 times longer in bytes than in characters.
    for (let i = 0; i < 12; i += 1) j.finished(request({ name: `工具-${i}-${'名'.repeat(60)}`, client: '客户端' }));
    await j.close();
    const dir = path.dirname(file);
    // Oldest first: calls.N.jsonl … calls.1.jsonl, then calls.jsonl.
    const rank = (n: string) => Number(/^calls\.(\d+)\.jsonl$/.exec(n)?.[1] ?? 0);
    const names = (await readdir(dir)).filter((n) => n.startsWith('calls')).sort((a, b) => rank(b) - rank(a));
    expect(names.length).toBeGreaterThan(2);
    const all: CallLine[] = [];
    for (const name of names) {
      expect((await stat(path.join(dir, name))).size).toBeLessThanOrEqual(1024);
      all.push(...(await linesOf(path.join(dir, name))));
    }
    expect(all.map((l) => l.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(all[11]!.name).toBe(`工具-11-${'名'.repeat(60)}`);
    expect(all.every((l) => l.client === '客户端')).toBe(true);
    expect(errors).toEqual([]);
  });

  it('never writes through a link planted at calls.jsonl: the lines are counted as lost', async () => {
    const stateDir = await makeStateDir();
    const target = path.join(stateDir, 'target');
    await writeFile(target, 'untouched\n', { mode: 0o644 });
    await mkdir(path.join(stateDir, 's'), { mode: 0o700 });
    await symlink(target, path.join(stateDir, 's', 'calls.jsonl'));
    const { j, errors } = await journalIn(stateDir);
    expect(errors).toEqual([expect.stringMatching(/^start: .*calls\.jsonl: /)]);
    j.finished(request());
    j.finished(request());
    await j.flush();
    expect(j.dropped).toBe(2);
    expect(errors[1]).toMatch(/^2 calls journal line\(s\) dropped: could not append to .*calls\.jsonl/);
    expect(await readFile(target, 'utf8')).toBe('untouched\n');
    expect((await stat(target)).mode & 0o777).toBe(0o644);
    expect((await lstat(path.join(stateDir, 's', 'calls.jsonl'))).isSymbolicLink()).toBe(true);
  });

  const refusal = tmpfsRefusal();
  it.skipIf(refusal !== undefined)(`a full disk loses the batches it refuses, counted, and the journal goes on once room is back${refusal ? ` (skipped: ${refusal})` : ''}`, async () => {
    const { mount, stateDir } = await smallTmpfs();
    const { j, errors, file } = await journalIn(stateDir, { flushMs: 60_000 });
    j.finished(request({ name: 'before' }));
    await j.flush();
    const filler = path.join(mount, 'filler');
    await fill(filler);
    // Batches of long lines: at least the first one cannot fit in what is left of the last page.
    for (let b = 0; b < 3; b += 1) {
      for (let i = 0; i < 20; i += 1) j.finished(request({ name: `during-${b}-${i}-${'n'.repeat(100)}`, client: 'c'.repeat(256) }));
      await j.flush();
    }
    expect(j.dropped).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatch(/calls journal line\(s\) dropped: could not append to .*calls\.jsonl: .*(ENOSPC|short write)/);
    await rm(filler);
    j.finished(request({ name: 'after' }));
    await j.close();
    // A line cut short by the full disk is one bad line; every other line is whole.
    const text = await readFile(file, 'utf8');
    const good = text.split('\n').filter(Boolean).flatMap((t) => {
      try {
        return [parseCallLine(t)];
      } catch {
        return [];
      }
    });
    expect(good[0]!.name).toBe('before');
    expect(good.at(-1)!.name).toBe('after');
    // Every line told is either in the file or counted as dropped.
    expect(good.length + j.dropped).toBe(62);
  });

  const fixture = path.join(ROOT, 'test', 'fixtures', 'calls-writer.mjs');
  it('a writer restart in a new process appends to the same files with its own pid and a seq from 1; rotated files are kept', async () => {
    expect(existsSync(path.join(ROOT, 'dist', 'server', 'publish', 'calls-journal.js')), 'the fixture runs the build: npm run build').toBe(true);
    const stateDir = await makeStateDir();
    const runs: { pid: number; dropped: number; errors: string[] }[] = [];
    for (let r = 0; r < 2; r += 1) {
      const { stdout } = await promisify(execFile)(process.execPath, [fixture, stateDir, '12', '4096', '3', '5'], { cwd: ROOT });
      runs.push(JSON.parse(stdout));
    }
    expect(runs[0]!.pid).not.toBe(runs[1]!.pid);
    expect(runs.map((r) => [r.dropped, r.errors])).toEqual([[0, []], [0, []]]);
    const dir = path.join(stateDir, 's');
    const all: CallLine[] = [];
    for (const name of ['calls.3.jsonl', 'calls.2.jsonl', 'calls.1.jsonl', 'calls.jsonl']) {
      if (existsSync(path.join(dir, name))) all.push(...(await linesOf(path.join(dir, name))));
    }
    expect(all.map((l) => [l.pid, l.seq])).toEqual([
      ...Array.from({ length: 12 }, (_, i) => [runs[0]!.pid, i + 1]),
      ...Array.from({ length: 12 }, (_, i) => [runs[1]!.pid, i + 1]),
    ]);
  });
});
