/**
 * The event journal `state/<serverId>/events.jsonl`: one JSON line per
 * `start`, `connect`, `disconnect` and `stop` of one server id, appended by its live writer and
 * rotated by size into `events.1.jsonl` (newest) … `events.N.jsonl` (oldest).
 *
 * Parsing and reading for every reader. A line is never split across files; a last line
 * without its newline is the torn write of a killed writer, or the first part of a line whose
 * writer waits for disk space to write the rest; it is skipped with a warning.
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { JOURNAL_FILE } from './paths.js';
import { CLOSE_REASONS, ERAS, TRANSPORTS, type ClientInfo, type CloseReason, type Era, type LaunchedBy, type Transport } from './snapshot.js';
import { StateFileError } from './state-file-error.js';
import { isCount, isIsoTime, isObject } from './validate.js';

export const JOURNAL_EVENTS = ['start', 'connect', 'disconnect', 'stop'] as const;
export type JournalEvent = (typeof JOURNAL_EVENTS)[number];

/** Fields of every line. */
export interface JournalLineBase {
  event: JournalEvent;
  /** When it happened, ISO-8601 UTC. */
  ts: string;
  /** The writer process. */
  pid: number;
  /** The seq of the first snapshot that shows this event. */
  seq: number;
  serverId?: string;
}

/** A writer took the lock and started. */
export interface StartLine extends JournalLineBase {
  event: 'start';
  startedAt?: string;
  heartbeatMs?: number;
}

/** A session began; carries the connection's fields. */
export interface ConnectLine extends JournalLineBase {
  event: 'connect';
  sessionId: string;
  clientIP?: string | null;
  userAgent?: string | null;
  connectedAt?: string;
  lastActivity?: string;
  requestCount?: number;
  clientInfo?: ClientInfo | null;
  protocolVersion?: string | null;
  /** The connection's protocol era; lines written before eras were recorded have none (then legacy). */
  era?: Era;
  lastMethod?: string | null;
  /** `stdio` for a `wrap` connection; lines written before transports were recorded have none (then http). */
  transport?: Transport;
  launchedBy?: LaunchedBy | null;
}

/** A session ended. */
export interface DisconnectLine extends JournalLineBase {
  event: 'disconnect';
  sessionId: string;
  reason: CloseReason;
  durationMs: number;
  requestCount: number;
  clientIP?: string | null;
  userAgent?: string | null;
  clientInfo?: ClientInfo | null;
  /** The connection's protocol era; lines written before eras were recorded have none (then legacy). */
  era?: Era;
  /** Who asked, when the session was ended on request (reason `terminated`, see control-request.ts): `api`, `cli:<user>`. */
  by?: string;
}

/** The longest `by` a reader accepts (as the control request's). */
export const BY_MAX = 128;

/** The writer stopped cleanly (the `stopped` snapshot follows). */
export interface StopLine extends JournalLineBase {
  event: 'stop';
}

export type JournalLine = StartLine | ConnectLine | DisconnectLine | StopLine;

/** A line that is not a journal line; `code` is always `EINVALID`. */
export class JournalLineError extends Error {
  readonly code = 'EINVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JournalLineError';
  }
}

/**
 * The journal could not be read at all (`code`: the fs error code, e.g. `ENOENT`): a
 * {@link StateFileError} (kept under this name for the callers that know it).
 */
export const JournalReadError = StateFileError;
export type JournalReadError = StateFileError;

/** The warning for a last line without its newline: a killed writer's, or one still waiting for room. */
export function tornLineWarning(file: string): string {
  return `${file}: the last line is incomplete (a writer was killed mid-append, or is waiting for disk space); skipped`;
}

/** Parses one line of a journal (without its newline); throws {@link JournalLineError}. */
export function parseJournalLine(text: string): JournalLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new JournalLineError(text.trim() === '' ? 'empty line' : `not JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isObject(v)) throw new JournalLineError('not a JSON object');
  if (!(JOURNAL_EVENTS as readonly unknown[]).includes(v.event)) throw new JournalLineError(`event is ${JSON.stringify(v.event)}, expected one of ${JOURNAL_EVENTS.join('|')}`);
  if (!isIsoTime(v.ts)) throw new JournalLineError(`ts is not an ISO-8601 UTC time: ${JSON.stringify(v.ts)}`);
  if (!isCount(v.pid) || v.pid === 0) throw new JournalLineError('pid must be a positive integer');
  if (!isCount(v.seq)) throw new JournalLineError('seq must be a non-negative integer');
  if (v.event === 'connect' || v.event === 'disconnect') {
    if (typeof v.sessionId !== 'string' || v.sessionId === '') throw new JournalLineError(`${v.event} line without a sessionId`);
    if (v.era !== undefined && !(ERAS as readonly unknown[]).includes(v.era)) throw new JournalLineError(`era is ${JSON.stringify(v.era)}, expected one of ${ERAS.join('|')}`);
    if (v.transport !== undefined && !(TRANSPORTS as readonly unknown[]).includes(v.transport)) throw new JournalLineError(`transport is ${JSON.stringify(v.transport)}, expected one of ${TRANSPORTS.join('|')}`);
    const by = v.launchedBy;
    if (by !== undefined && by !== null && (!isObject(by) || !isCount(by.pid) || by.pid === 0 || (by.name !== null && typeof by.name !== 'string'))) {
      throw new JournalLineError('launchedBy must be null or {pid, name} with a positive pid and a string or null name');
    }
  }
  if (v.event === 'disconnect') {
    if (!(CLOSE_REASONS as readonly unknown[]).includes(v.reason)) throw new JournalLineError(`reason is ${JSON.stringify(v.reason)}, expected one of ${CLOSE_REASONS.join('|')}`);
    if (!isCount(v.durationMs)) throw new JournalLineError('durationMs must be a non-negative integer');
    if (!isCount(v.requestCount)) throw new JournalLineError('requestCount must be a non-negative integer');
    if (v.by !== undefined && (typeof v.by !== 'string' || v.by === '' || v.by.length > BY_MAX)) throw new JournalLineError(`by must be a string of 1-${BY_MAX} characters`);
  }
  return v as unknown as JournalLine;
}

/** Serializes a journal line as the file holds it: one line of JSON and a newline. */
export function serializeJournalLine(line: JournalLine): string {
  return `${JSON.stringify(line)}\n`;
}

/** `events.jsonl` for 0, `events.<n>.jsonl` for a rotated file. */
export function journalFileName(n: number): string {
  return n === 0 ? JOURNAL_FILE : JOURNAL_FILE.replace(/\.jsonl$/, `.${n}.jsonl`);
}

const ROTATED_RE = /^events\.(\d+)\.jsonl$/;

/** The journal files in a server directory, oldest first (`events.N.jsonl` … `events.jsonl`). */
export async function journalFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const rotated = names.flatMap((n) => {
    const m = ROTATED_RE.exec(n);
    return m && Number(m[1]) > 0 ? [{ n: Number(m[1]), name: n }] : [];
  });
  rotated.sort((a, b) => b.n - a.n);
  const files = rotated.map((r) => path.join(dir, r.name));
  if (names.includes(JOURNAL_FILE)) files.push(path.join(dir, JOURNAL_FILE));
  return files;
}

/**
 * Splits the text of one journal file into lines. A last line without its newline (torn, or not
 * yet finished on a full disk) is left out and reported. Bad lines are reported and left out.
 */
export function parseJournalText(text: string, file: string, onWarning: (message: string) => void): JournalLine[] {
  const parts = text.split('\n');
  const last = parts.pop()!;
  if (last !== '') onWarning(tornLineWarning(file));
  const lines: JournalLine[] = [];
  parts.forEach((part, i) => {
    if (part === '') return;
    try {
      lines.push(parseJournalLine(part));
    } catch (err) {
      onWarning(`${file}:${i + 1}: not a journal line (${(err as Error).message}); skipped`);
    }
  });
  return lines;
}

export interface JournalContents {
  /** The files read, oldest first. */
  files: string[];
  /** Their lines in the order they were written. */
  lines: JournalLine[];
}

export interface ReadJournalOptions {
  /** Called after the files are listed, before they are opened (tests put a rotation here). */
  onListed?: () => Promise<void> | void;
}

/** How often {@link readJournal} starts over when a rotation keeps landing while it opens the files. */
const READ_ATTEMPTS = 10;

/**
 * Reads the whole journal of a server directory, rotated files first. Torn and bad lines are
 * skipped and reported through `onWarning`. Throws {@link StateFileError} when there is no
 * journal or it cannot be read.
 *
 * A rotation renames every file while we read: so all files are opened first (an open file
 * keeps its inode whatever its name becomes), and if `events.jsonl` is not the same inode after
 * the opens as before the listing, a rotation came in between and it starts over.
 */
export async function readJournal(dir: string, onWarning: (message: string) => void, options: ReadJournalOptions = {}): Promise<JournalContents> {
  const main = path.join(dir, JOURNAL_FILE);
  for (let attempt = 1; ; attempt += 1) {
    const before = await inodeOf(main);
    let files: string[];
    try {
      files = await journalFiles(dir);
    } catch (err) {
      throw StateFileError.fromErrno(main, err, 'file (no server directory)');
    }
    if (files.length === 0) throw new StateFileError(main, 'ENOENT', 'no such file (no journal)');
    await options.onListed?.();
    const opened: { file: string; fh: FileHandle }[] = [];
    try {
      let complete = true;
      for (const file of files) {
        try {
          opened.push({ file, fh: await open(file, 'r') });
        } catch (err) {
          // ENOENT: rotated away since the listing; the check below starts over.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw StateFileError.fromErrno(file, err);
          complete = false;
        }
      }
      const after = await inodeOf(main);
      if ((!complete || before !== after) && attempt < READ_ATTEMPTS) continue;
      const lines: JournalLine[] = [];
      for (const { file, fh } of opened) {
        let text: string;
        try {
          text = await fh.readFile('utf8');
        } catch (err) {
          throw StateFileError.fromErrno(file, err);
        }
        lines.push(...parseJournalText(text, file, onWarning));
      }
      return { files: opened.map((o) => o.file), lines };
    } finally {
      await Promise.all(opened.map((o) => o.fh.close()));
    }
  }
}

/** The inode of `file`, or undefined when there is none (ENOENT: between a rotation's rename and the new file). */
async function inodeOf(file: string): Promise<bigint | undefined> {
  try {
    return (await stat(file, { bigint: true })).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw StateFileError.fromErrno(file, err);
  }
}
