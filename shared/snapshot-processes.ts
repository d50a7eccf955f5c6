/**
 * The snapshot's `processes` (added to schema `mcp-monitor/snapshot@1`): every live stdio process
 * of a `--command` writer, from its spawn until it has exited, also after its session ended, so
 * that whoever cleans up after a writer that died can end it. Its identity (see
 * `shared/io/process-identity.ts`) is what a reaper must match exactly before it kills. Pure
 * data and a validator.
 */
import { isCount, isObject } from './validate.js';

/** One live stdio process of the writer. */
export interface SnapshotProcess {
  pid: number;
  /** `/proc/<pid>/stat` starttime: clock ticks after boot. */
  startTicks: number;
  /** Its real uid. */
  uid: number;
  /** `/proc/sys/kernel/random/boot_id` of its boot. */
  bootId: string;
  /** The session it serves or served; null while (or if never) it has one. */
  sessionId: string | null;
}

/** The longest `bootId` a reader accepts (a UUID has 36 characters). */
const BOOT_ID_MAX = 64;

function fail(path: string, what: string): never {
  throw new TypeError(`${path} ${what}`);
}

function count(o: Record<string, unknown>, key: string, path: string): number {
  const v = o[key];
  if (!isCount(v)) fail(`${path}${key}`, v === undefined ? 'is missing' : 'must be a non-negative integer');
  return v;
}

function validateProcess(v: unknown, i: number): SnapshotProcess {
  const p = `processes[${i}].`;
  if (!isObject(v)) fail(`processes[${i}]`, 'must be an object');
  const pid = count(v, 'pid', p);
  if (pid === 0) fail(`${p}pid`, 'must be a positive integer');
  const bootId = v.bootId;
  if (typeof bootId !== 'string') fail(`${p}bootId`, bootId === undefined ? 'is missing' : 'must be a string');
  if (bootId.length === 0 || bootId.length > BOOT_ID_MAX) fail(`${p}bootId`, `must have 1-${BOOT_ID_MAX} characters`);
  const sessionId = v.sessionId ?? null;
  if (sessionId !== null && typeof sessionId !== 'string') fail(`${p}sessionId`, 'must be a string or null');
  return { pid, startTicks: count(v, 'startTicks', p), uid: count(v, 'uid', p), bootId, sessionId };
}

/** Checks a `processes` value and returns it typed (unknown fields of an entry dropped); throws a TypeError naming the field. */
export function validateProcesses(value: unknown): SnapshotProcess[] {
  if (!Array.isArray(value)) fail('processes', 'must be an array');
  return value.map(validateProcess);
}
