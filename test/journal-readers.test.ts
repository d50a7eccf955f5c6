/**
 * The journal readers: `readJournal` against a rotation that lands while it reads, and the
 * replay of a journal in which a writer that lost its lock kept writing.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serializeJournalLine, type JournalLine } from '../shared/journal.js';
import { readJournal } from '../shared/io/read-journal.js';
import { connectionsAt } from '../shared/replay.js';
import { cleanup, makeStateDir } from './helpers/processes.js';

afterEach(cleanup);

const t = (s: number) => new Date(Date.UTC(2026, 10, 24, 10, 0, s)).toISOString();
const start = (s: number, pid: number): JournalLine => ({ event: 'start', ts: t(s), pid, seq: 1, startedAt: t(s) });
const stop = (s: number, pid: number): JournalLine => ({ event: 'stop', ts: t(s), pid, seq: s });
const conn = (s: number, pid: number, id: string): JournalLine => ({ event: 'connect', ts: t(s), pid, seq: s, sessionId: id, clientIP: '10.0.0.1', connectedAt: t(s) });
const end = (s: number, pid: number, id: string): JournalLine => ({ event: 'disconnect', ts: t(s), pid, seq: s, sessionId: id, reason: 'shutdown', durationMs: 1, requestCount: 1 });
const text = (lines: JournalLine[]) => lines.map(serializeJournalLine).join('');

describe('readJournal and rotation', () => {
  it('loses no file when a rotation lands between the listing and the reads', async () => {
    const dir = path.join(await makeStateDir(), 'default');
    await mkdir(dir);
    const [a, b, c] = [conn(1, 7, 'a'), conn(2, 7, 'b'), conn(3, 7, 'c')];
    await writeFile(path.join(dir, 'events.1.jsonl'), text([a]));
    await writeFile(path.join(dir, 'events.jsonl'), text([b]));
    let rotations = 0;
    const warnings: string[] = [];
    const j = await readJournal(dir, (w) => warnings.push(w), {
      // The writer rotates once, right after the reader listed the files.
      onListed: async () => {
        if (rotations++ > 0) return;
        await rename(path.join(dir, 'events.1.jsonl'), path.join(dir, 'events.2.jsonl'));
        await rename(path.join(dir, 'events.jsonl'), path.join(dir, 'events.1.jsonl'));
        await writeFile(path.join(dir, 'events.jsonl'), text([c]));
      },
    });
    expect(warnings).toEqual([]);
    expect(j.lines.map((l) => (l as { sessionId: string }).sessionId)).toEqual(['a', 'b', 'c']);
    expect(j.files.map((f) => path.basename(f))).toEqual(['events.2.jsonl', 'events.1.jsonl', 'events.jsonl']);
    expect(rotations).toBe(2);
  });

  it('names a missing journal and a missing server directory', async () => {
    const stateDir = await makeStateDir();
    await expect(readJournal(path.join(stateDir, 'nope'), () => {})).rejects.toThrow(/events\.jsonl: no such file \(no server directory\)/);
    await mkdir(path.join(stateDir, 'empty'));
    await expect(readJournal(path.join(stateDir, 'empty'), () => {})).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringMatching(/no such file \(no journal\)/) });
  });
});

describe('replay: a writer that lost its lock', () => {
  // A runs; its lock is taken away; B starts and gets a client; A notices late and shuts down.
  const history: JournalLine[] = [start(0, 100), conn(1, 100, 's1'), start(10, 200), conn(11, 200, 's2'), end(12, 100, 's1'), stop(13, 100)];

  it('keeps the new writer and its sessions when the old one writes its disconnect and stop', () => {
    const r = connectionsAt(history, Date.UTC(2026, 10, 24, 10, 0, 20));
    expect(r.connections.map((c) => c.sessionId)).toEqual(['s2']);
    expect(r).toMatchObject({ pid: 200, writerUp: true });
  });

  it('still lets a later writer that got the old pid again (containers) stop on its own', () => {
    const reused = [...history, start(20, 100), conn(21, 100, 's3'), end(22, 100, 's3'), conn(23, 100, 's4'), stop(24, 100)];
    expect(connectionsAt(reused, Date.UTC(2026, 10, 24, 10, 0, 23)).connections.map((c) => c.sessionId)).toEqual(['s4']);
    expect(connectionsAt(reused, Date.UTC(2026, 10, 24, 10, 0, 30))).toMatchObject({ connections: [], pid: 100, writerUp: false });
  });
});
