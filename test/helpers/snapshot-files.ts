/**
 * Real snapshot and journal files of a server that no test process runs: the API and the CLI
 * follow any server found in the state directory ("external"), so a test can show them
 * connections of both eras and operations before the child produces them. The files are
 * written as the child writes them: snapshot replaced by rename (from `.tmp/`), journal appended a line at a
 * time, modes 0700/0600, every snapshot valid per shared/snapshot.ts.
 */
import { appendFile, mkdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { OPERATION_BOUNDS, SESSION_DURATION_BOUNDS, emptyHistogram, observe, type Histogram, type Operation } from '../../shared/operations.js';
import { writeFileNoFollow } from '../../shared/io/write-file-no-follow.js';
import { SNAPSHOT_SCHEMA, serializeSnapshot, validateSnapshot, type Connection, type Snapshot } from '../../shared/snapshot.js';

/** A cumulative histogram of `values` for `bounds`. */
export function histogramOf(values: number[], bounds: readonly number[]): Histogram {
  const h = emptyHistogram(bounds);
  for (const v of values) {
    observe(h, bounds, v);
    h.count += 1;
  }
  return h;
}

/**
 * An operation entry of `durations` (seconds) as a writer writes it: of successes (errorType
 * null, no errors) or, with `errorType`, of failures of that type (each one an error). Buckets
 * for `bounds` (a writer from before `operationBounds` had LEGACY_OPERATION_BOUNDS).
 */
export function operationOf(method: string, name: string | null, durations: number[], errorType: string | null = null, bounds: readonly number[] = OPERATION_BOUNDS): Operation {
  const h = histogramOf(durations, bounds);
  return { method, name, errorType, count: h.count, errors: errorType === null ? 0 : h.count, durationSeconds: { sum: h.sum, buckets: h.buckets } };
}

/** Session durations (seconds) as the snapshot's `sessionDurations`. */
export function sessionDurationsOf(seconds: number[]): Histogram {
  return histogramOf(seconds, SESSION_DURATION_BOUNDS);
}

/** A connection; `era` and the rest as given. */
export function connectionOf(sessionId: string, fields: Partial<Connection> = {}): Connection {
  const t = new Date().toISOString();
  return { sessionId, clientIP: '127.0.0.1', userAgent: 'node', connectedAt: t, lastActivity: t, requestCount: 1, clientInfo: { name: 'c', version: '1.0.0' }, protocolVersion: '2025-11-25', ...fields };
}

let seq = 0;

/**
 * Writes a `running` snapshot of `serverId` (pid: this test process, which is alive; a long
 * heartbeat so that it stays fresh for the test) and refreshes its lock; returns it. Its
 * `operationBounds` are today's unless `fields` sets them (undefined: an older writer's file).
 */
export async function writeSnapshot(stateDir: string, serverId: string, fields: Partial<Snapshot> & { connections: Connection[] }): Promise<Snapshot> {
  const now = new Date().toISOString();
  seq += 1;
  const snap = validateSnapshot({
    schema: SNAPSHOT_SCHEMA, serverId, pid: process.pid, seq, status: 'running', reason: 'activity',
    startedAt: now, writtenAt: now, heartbeatMs: 60_000, mcp: { url: 'http://127.0.0.1:9/mcp', endpoint: '/mcp', port: 9 },
    activeConnections: fields.connections.length, totalConnections: fields.connections.length, lastUpdated: now,
    operationBounds: [...OPERATION_BOUNDS],
    ...fields,
  });
  const dir = path.join(stateDir, serverId);
  await replaceAsTheWriter(path.join(dir, 'snapshot.json'), serializeSnapshot(snap));
  // The writer's lock, just refreshed: a live writer as far as the lock says (the CLI's verdict).
  const lock = path.join(dir, 'snapshot.json.lock');
  await mkdir(lock, { recursive: true, mode: 0o700 });
  const t = new Date();
  await utimes(lock, t, t);
  return snap;
}

/**
 * Replaces a snapshot file as the child's writer does: a temp file in the server's `.tmp/`
 * (the directory the API watches), renamed over it.
 */
export async function replaceAsTheWriter(file: string, text: string): Promise<void> {
  const tempDir = path.join(path.dirname(file), '.tmp');
  await mkdir(tempDir, { recursive: true, mode: 0o700 });
  await writeFileNoFollow(file, text, { mode: 0o600, tempDir });
}

/** Appends journal lines to `<stateDir>/<serverId>/events.jsonl`. */
export async function appendJournal(stateDir: string, serverId: string, lines: Record<string, unknown>[]): Promise<void> {
  const dir = path.join(stateDir, serverId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const l of lines) await appendFile(path.join(dir, 'events.jsonl'), `${JSON.stringify(l)}\n`, { mode: 0o600 });
}
