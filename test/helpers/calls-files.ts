/**
 * Calls journal files written by hand, as the writer writes them (server dir 0700, files 0600,
 * one JSON line each), for the readers' tests: the CLI and the route read whatever is there.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { CallLine } from '../../shared/calls.js';

/** A calls line at `ts`; the rest as given. */
export function callOf(seq: number, ts: string, fields: Partial<CallLine> = {}): CallLine {
  return { ts, seq, pid: 4242, sessionId: 'sess-a', era: 'legacy', client: 'test-client', method: 'tools/call', name: 'echo', durationMs: 1.25, outcome: 'ok', errorCode: null, ...fields };
}

/** Appends `lines` to `<stateDir>/<serverId>/<file>` (default `calls.jsonl`). */
export async function appendCalls(stateDir: string, serverId: string, lines: unknown[], file = 'calls.jsonl'): Promise<void> {
  const dir = path.join(stateDir, serverId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await appendFile(path.join(dir, file), lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l)) + '\n').join(''), { mode: 0o600 });
}

/** `2026-12-04T10:00:<s>.000Z`: times a test can order. */
export const at = (s: number) => new Date(Date.UTC(2026, 11, 4, 10, 0, s)).toISOString();
