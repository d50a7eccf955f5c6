/**
 * The event journal `state/<serverId>/events.jsonl` (contract section 4): one JSON line per
 * `start`, `connect`, `disconnect` and `stop` of one server id, appended by its live writer and
 * rotated by size into `events.1.jsonl` (newest) … `events.N.jsonl` (oldest).
 *
 * Parsing and reading for every reader. A line is never split across files; a last line
 * without its newline is the torn write of a killed writer and is skipped with a warning.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { JOURNAL_FILE } from './paths.js';
import { CLOSE_REASONS, type ClientInfo, type CloseReason } from './snapshot.js';

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
  clientIP?: string;
  userAgent?: string | null;
  connectedAt?: string;
  lastActivity?: string;
  requestCount?: number;
  clientInfo?: ClientInfo | null;
  protocolVersion?: string | null;
}

/** A session ended. */
export interface DisconnectLine extends JournalLineBase {
  event: 'disconnect';
  sessionId: string;
  reason: CloseReason;
  durationMs: number;
  requestCount: number;
  clientIP?: string;
  userAgent?: string | null;
  clientInfo?: ClientInfo | null;
}

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

/** The journal could not be read at all (`code`: the fs error code, e.g. `ENOENT`). */
export class JournalReadError extends Error {
  readonly code: string;
  readonly file: string;
  constructor(file: string, code: string, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
    this.name = 'JournalReadError';
    this.code = code;
    this.file = file;
  }
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
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
  if (typeof v.ts !== 'string' || !ISO_UTC.test(v.ts) || Number.isNaN(Date.parse(v.ts))) throw new JournalLineError(`ts is not an ISO-8601 UTC time: ${JSON.stringify(v.ts)}`);
  if (!isCount(v.pid) || v.pid === 0) throw new JournalLineError('pid must be a positive integer');
  if (!isCount(v.seq)) throw new JournalLineError('seq must be a non-negative integer');
  if (v.event === 'connect' || v.event === 'disconnect') {
    if (typeof v.sessionId !== 'string' || v.sessionId === '') throw new JournalLineError(`${v.event} line without a sessionId`);
  }
  if (v.event === 'disconnect') {
    if (!(CLOSE_REASONS as readonly unknown[]).includes(v.reason)) throw new JournalLineError(`reason is ${JSON.stringify(v.reason)}, expected one of ${CLOSE_REASONS.join('|')}`);
    if (!isCount(v.durationMs)) throw new JournalLineError('durationMs must be a non-negative integer');
    if (!isCount(v.requestCount)) throw new JournalLineError('requestCount must be a non-negative integer');
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
 * Splits the text of one journal file into lines. A last line without its newline is the torn
 * write of a killed writer: it is left out and reported. Bad lines are reported and left out.
 */
export function parseJournalText(text: string, file: string, onWarning: (message: string) => void): JournalLine[] {
  const parts = text.split('\n');
  const last = parts.pop()!;
  if (last !== '') onWarning(`${file}: the last line is incomplete (a writer was killed mid-append); skipped`);
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

/**
 * Reads the whole journal of a server directory, rotated files first. Torn and bad lines are
 * skipped and reported through `onWarning`. Throws {@link JournalReadError} when there is no
 * journal or it cannot be read.
 */
export async function readJournal(dir: string, onWarning: (message: string) => void): Promise<JournalContents> {
  const main = path.join(dir, JOURNAL_FILE);
  let files: string[];
  try {
    files = await journalFiles(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new JournalReadError(main, e.code ?? 'EIO', e.code === 'ENOENT' ? 'no such file (no server directory)' : e.message, { cause: err });
  }
  if (files.length === 0) throw new JournalReadError(main, 'ENOENT', 'no such file (no journal)');
  const lines: JournalLine[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // ENOENT: rotated away between the listing and the read; what it held is gone.
      if (e.code === 'ENOENT') continue;
      throw new JournalReadError(file, e.code ?? 'EIO', e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.message, { cause: err });
    }
    lines.push(...parseJournalText(text, file, onWarning));
  }
  return { files, lines };
}
