/**
 * publishSessions on its own, with the real publishing objects in a temp state directory: the
 * order in which it passes each registry event on is what makes a journal line's `seq` name the
 * first snapshot that shows the event, and a snapshot written for an end hold its duration.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { JournalWriter } from '../server/publish/journal-writer.js';
import { OperationRecorder } from '../server/operations/operation-recorder.js';
import { publishSessions } from '../server/publish/publish-sessions.js';
import { SessionJournal } from '../server/publish/session-journal.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { SnapshotWriter } from '../server/publish/snapshot-writer.js';
import { WriterLock } from '../server/publish/writer-lock.js';
import { type JournalLine } from '../shared/journal.js';
import { readJournal } from '../shared/io/read-journal.js';
import type { Snapshot } from '../shared/snapshot.js';
import { connectionOf } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

const silent = pino({ level: 'silent' });
const closers: (() => Promise<void>)[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/**
 * A started child's publishing, as server/main.ts wires it, and every snapshot it writes.
 * `first`, if given, listens to the lock before the writers are built.
 */
async function published(first?: (lost: { registry: SessionRegistry; writer: SnapshotWriter; journal: JournalWriter }) => void) {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-publish-'));
  dirs.push(stateDir);
  const serverId = 's';
  const registry = new SessionRegistry();
  const recorder = new OperationRecorder();
  const lock = new WriterLock({ stateDir, serverId, logger: silent });
  lock.on('compromised', () => first?.({ registry, writer, journal }));
  const writer = new SnapshotWriter({ stateDir, serverId, heartbeatMs: 60_000, registry, lock, recorder, logger: silent });
  const journal = new JournalWriter({ stateDir, serverId, lock, logger: silent });
  const sessionJournal = new SessionJournal({ serverId, journal, seq: () => writer.seq });
  publishSessions({ registry, writer, sessionJournal, recorder, log: silent });
  const written: Snapshot[] = [];
  writer.on('written', (s) => written.push(s));
  closers.push(() => lock.close(), () => writer.close(), () => journal.close());
  await lock.start();
  await writer.start();
  await journal.start();
  const lines = async (): Promise<JournalLine[]> => {
    await writer.flush();
    await journal.flush();
    const warnings: string[] = [];
    const j = await readJournal(path.join(stateDir, serverId), (w) => warnings.push(w));
    expect(warnings).toEqual([]);
    return j.lines;
  };
  return { stateDir, lock, registry, writer, journal, written, lines };
}

describe('publishSessions', () => {
  it('gives a connect line the seq of the first snapshot that lists the session, also while a write is in flight', async () => {
    const { registry, written, lines } = await published();
    // `a` starts a write at once; `b`, during it, waits as the pending write.
    registry.add(connectionOf('a'));
    registry.add(connectionOf('b'));
    const connects = (await lines()).filter((l) => l.event === 'connect');
    expect(connects.map((l) => l.sessionId)).toEqual(['a', 'b']);
    for (const line of connects) {
      const first = written.find((s) => s.connections.some((c) => c.sessionId === line.sessionId));
      expect(first, line.sessionId).toBeDefined();
      expect(line.seq, line.sessionId).toBe(first!.seq);
    }
    expect(connects[1]!.seq).toBe(connects[0]!.seq + 1);
  });

  it('gives a disconnect line the seq of the first snapshot without the session, which already counts its end and duration', async () => {
    const { registry, written, lines } = await published();
    registry.add(connectionOf('a'));
    await lines();
    registry.remove('a', 'delete');
    const end = (await lines()).find((l) => l.event === 'disconnect');
    expect(end).toMatchObject({ sessionId: 'a', reason: 'delete' });
    const listed = written.findIndex((s) => s.connections.some((c) => c.sessionId === 'a'));
    const gone = written.slice(listed).find((s) => !s.connections.some((c) => c.sessionId === 'a'));
    expect(gone).toBeDefined();
    expect(end!.seq).toBe(gone!.seq);
    expect(gone!.sessionsClosed?.delete).toBe(1);
    expect(gone!.sessionDurations?.count).toBe(1);
  });

  it('passes activity on to the snapshot (requestCount), with no journal line', async () => {
    const { registry, written, lines } = await published();
    registry.add(connectionOf('a', { requestCount: 0 }));
    await lines();
    const before = written.length;
    registry.touch('a', 'tools/list');
    // Activity waits for its batching timer before it is written.
    await waitFor(() => written.length > before, { what: 'the activity write' });
    const l = await lines();
    expect(written.at(-1)!.connections[0]).toMatchObject({ sessionId: 'a', requestCount: 1, lastMethod: 'tools/list' });
    expect(l.map((x) => x.event)).toEqual(['connect']);
  });

  it('writes nothing once the lock is lost, even for a listener of the lock that comes before the writers', async () => {
    const { stateDir, lock, registry, written, lines } = await published((lost) => {
      // Told first: the writers have not heard yet, but the lock already says it is lost.
      lost.registry.add(connectionOf('late'));
      lost.writer.request('heartbeat');
      lost.journal.append({ event: 'stop', ts: new Date().toISOString(), pid: process.pid, seq: 99 });
    });
    registry.add(connectionOf('a'));
    expect((await lines()).map((l) => ('sessionId' in l ? l.sessionId : l.event))).toEqual(['a']);
    const before = written.length;
    const text = await readFile(path.join(stateDir, 's', 'snapshot.json'), 'utf8');
    await rm(lock.path, { recursive: true });
    await expect(lock.verify()).rejects.toThrow(/removed/);
    expect((await lines()).map((l) => ('sessionId' in l ? l.sessionId : l.event))).toEqual(['a']);
    expect(written.length).toBe(before);
    expect(await readFile(path.join(stateDir, 's', 'snapshot.json'), 'utf8')).toBe(text);
  });
});
