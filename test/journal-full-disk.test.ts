/**
 * The journal when the disk is full or the descriptors run out, for real: a 256 KiB tmpfs
 * filled to its last page, and a child whose descriptors are all taken under `prlimit`. A line
 * that cannot be written is kept and tried again; once room is back every line is in the
 * journal once and whole, and nothing said on the way blames a killed writer. Mounting needs
 * root and a container that allows tmpfs mounts: where it cannot, that case is skipped and its
 * title says why.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { JournalWriter } from '../server/publish/journal-writer.js';
import { CLOSE_RETRY_MS } from '../server/publish/journal-retry.js';
import { WriterLock } from '../server/publish/writer-lock.js';
import { type JournalLine } from '../shared/journal.js';
import { readJournal } from '../shared/io/read-journal.js';
import { ROOT } from './helpers/processes.js';
import { fill, smallTmpfs, tmpfsRefusal, unmountAll } from './helpers/small-tmpfs.js';
import { waitFor } from './helpers/wait-for.js';

interface Log {
  level: number;
  msg: string;
  err?: string;
}

const dirs: string[] = [];
const writers: JournalWriter[] = [];
const locks: WriterLock[] = [];

async function cleanUp(): Promise<void> {
  await Promise.all(writers.splice(0).map((w) => w.close()));
  await Promise.all(locks.splice(0).map((l) => l.close()));
  await unmountAll();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}
afterEach(cleanUp);
afterAll(cleanUp);

const refusal = tmpfsRefusal();
const tmpfsTitle = (title: string) => (refusal ? `${title} (skipped: ${refusal})` : title);

/** A logger whose lines are kept, parsed, in `logs`. */
function recorded(): { logs: Log[]; logger: pino.Logger } {
  const logs: Log[] = [];
  return { logs, logger: pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as Log) }) };
}

async function writerOn(stateDir: string, logger: pino.Logger): Promise<{ w: JournalWriter; errors: Error[] }> {
  const lock = new WriterLock({ stateDir, serverId: 's', logger: pino({ level: 'silent' }) });
  locks.push(lock);
  await lock.start();
  const w = new JournalWriter({ stateDir, serverId: 's', lock, logger });
  writers.push(w);
  const errors: Error[] = [];
  w.on('error', (e) => errors.push(e));
  await w.start();
  return { w, errors };
}

const t = (s: number) => new Date(Date.UTC(2026, 11, 3, 8, 0, s)).toISOString();
// A user agent longer than a page: on a full tmpfs such a line is always cut short at the end
// of the journal's last page, so the rest of a short write is what gets tried again.
const connect = (seq: number, id: string): JournalLine => ({ event: 'connect', ts: t(seq), pid: 9, seq, sessionId: id, clientIP: '127.0.0.1', userAgent: `ua-${'x'.repeat(5000)}`, clientInfo: { name: id, version: '1' }, connectedAt: t(seq) });
const disconnect = (seq: number, id: string): JournalLine => ({ event: 'disconnect', ts: t(seq), pid: 9, seq, sessionId: id, reason: 'delete', durationMs: 1, requestCount: 1 });
const RETRYING = /keeping the line and retrying/;

/** A writer on a fresh small tmpfs, its start line written, then the disk filled. */
async function writerOnFullDisk(): Promise<{ stateDir: string; filler: string; logs: Log[]; w: JournalWriter; errors: Error[] }> {
  const { mount, stateDir } = await smallTmpfs();
  const { logs, logger } = recorded();
  const { w, errors } = await writerOn(stateDir, logger);
  w.append({ event: 'start', ts: t(0), pid: 9, seq: 1 });
  await w.flush();
  const filler = path.join(mount, 'filler');
  await fill(filler);
  return { stateDir, filler, logs, w, errors };
}

describe('the journal on a full disk (a 256 KiB tmpfs)', () => {
  it.skipIf(refusal !== undefined)(tmpfsTitle('keeps the lines while the disk is full and writes each once and whole when room comes back'), async () => {
    const { stateDir, filler, logs, w, errors } = await writerOnFullDisk();
    const expected: JournalLine[] = [];
    for (let i = 0; i < 12; i += 1) expected.push(connect(2 + i, `s-${i}`));
    for (let i = 0; i < 12; i += 1) expected.push(disconnect(14 + i, `s-${i}`));
    for (const line of expected) w.append(line);
    await waitFor(() => logs.some((l) => RETRYING.test(l.msg)), { what: 'the writer retrying' });
    // Several tries' worth of a full disk: the first connect line is cut short, nothing is lost.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const file = path.join(stateDir, 's', 'events.jsonl');
    const during = await readFile(file, 'utf8');
    expect(during.endsWith('\n')).toBe(false);
    expect(during.split('\n')).toHaveLength(2);
    expect(errors).toEqual([]);

    await rm(filler);
    await w.flush();
    await w.close();
    expect(errors).toEqual([]);
    const text = await readFile(file, 'utf8');
    expect(text.split('\n')).toHaveLength(2 + expected.length);
    const warnings: string[] = [];
    const j = await readJournal(path.join(stateDir, 's'), (x) => warnings.push(x));
    expect(warnings).toEqual([]);
    expect(j.lines).toEqual([{ event: 'start', ts: t(0), pid: 9, seq: 1 }, ...expected]);

    const retrying = logs.filter((l) => RETRYING.test(l.msg));
    expect(retrying).toHaveLength(1);
    expect(retrying[0]!.level).toBe(40);
    expect(retrying[0]!.err).toMatch(/short write/);
    expect(logs.filter((l) => /journal writes resumed; no line lost/.test(l.msg))).toHaveLength(1);
    expect(logs.filter((l) => /torn|killed|partial/.test(l.msg))).toEqual([]);
  });

  it.skipIf(refusal !== undefined)(tmpfsTitle('close gives up on a disk that stays full within about CLOSE_RETRY_MS; the next writer says what the torn line may be'), async () => {
    const { stateDir, filler, logs, w, errors } = await writerOnFullDisk();
    for (let i = 0; i < 5; i += 1) w.append(connect(2 + i, `s-${i}`));
    // Long enough for the waits between tries to grow past what close allows.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(logs.filter((l) => RETRYING.test(l.msg))).toHaveLength(1);
    const began = Date.now();
    await w.close();
    const took = Date.now() - began;
    expect(took).toBeGreaterThanOrEqual(CLOSE_RETRY_MS - 100);
    expect(took).toBeLessThan(CLOSE_RETRY_MS + 700);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^5 journal line\(s\) dropped at close of .*events\.jsonl: still failing after 1500 ms \(/)]);

    // Room again: the next writer finds the first part of a cut-short line and ends it.
    await rm(filler);
    await Promise.all(locks.splice(0).map((l) => l.close()));
    const next = recorded();
    const { w: w2 } = await writerOn(stateDir, next.logger);
    w2.append({ event: 'stop', ts: t(9), pid: 9, seq: 9 });
    await w2.close();
    expect(next.logs.filter((l) => l.level === 40).map((l) => l.msg)).toEqual(['the journal ends in a torn line left by an earlier writer (killed mid-append, or its disk was full); ending it']);
    const warnings: string[] = [];
    const j = await readJournal(path.join(stateDir, 's'), (x) => warnings.push(x));
    expect(j.lines.map((l) => l.seq)).toEqual([1, 9]);
    expect(warnings).toEqual([expect.stringMatching(/events\.jsonl:2: not a journal line/)]);
  });
});

const prlimit = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p));
const fixture = path.join(ROOT, 'test', 'fixtures', 'journal-emfile-writer.mjs');

describe('the journal out of file descriptors', () => {
  it.skipIf(prlimit === undefined)(prlimit ? 'keeps the lines that found no free descriptor and writes them once one is free' : 'EMFILE (skipped: no prlimit here)', async () => {
    expect(existsSync(path.join(ROOT, 'dist', 'server', 'publish', 'journal-writer.js')), 'the fixture runs the build: npm run build').toBe(true);
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'mcpmon-emfile-'));
    dirs.push(stateDir);
    const N = 30;
    const { stdout } = await promisify(execFile)(prlimit!, ['--nofile=64:64', process.execPath, fixture, stateDir, String(N)], { cwd: ROOT });
    const out = JSON.parse(stdout) as { held: number; startError?: string; errors: string[]; logs: Log[] };
    expect(out.held).toBeGreaterThan(0);
    expect(out.startError).toBe('EMFILE');
    expect(out.errors).toEqual([]);
    const retrying = out.logs.filter((l) => RETRYING.test(l.msg));
    expect(retrying).toHaveLength(1);
    expect(retrying[0]!.err).toMatch(/EMFILE/);
    expect(out.logs.filter((l) => /journal writes resumed; no line lost/.test(l.msg))).toHaveLength(1);
    const warnings: string[] = [];
    const j = await readJournal(path.join(stateDir, 's'), (x) => warnings.push(x));
    expect(warnings).toEqual([]);
    expect(j.lines.map((l) => l.seq)).toEqual(Array.from({ length: N }, (_, i) => i));
  });
});
