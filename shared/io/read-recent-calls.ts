/**
 * The newest lines of a server's calls journal (shared/calls.ts), for `GET
 * /api/mcp/servers/:serverId/calls`: read from the end backwards, `calls.jsonl` first, then
 * `calls.1.jsonl`, `calls.2.jsonl` …, a chunk at a time, so that a request for the last 100
 * lines never loads a whole file. It stops at `limit` matching lines, at the first line older
 * than `since` (a writer appends its lines in the order its requests ended), or after
 * `maxScanBytes`.
 *
 * A rotation renames every file while we read: so all files are opened first (an open file keeps
 * its inode whatever its name becomes), and if `calls.jsonl` is not the same inode after the opens
 * as before the listing, a rotation came in between and it starts over (as read-journal.ts does).
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { parseCallLine, type CallLine } from '../calls.js';
import { CALLS_JOURNAL } from '../journal-names.js';

export interface RecentCallsQuery {
  /** At most this many lines (the newest). */
  limit: number;
  /** Only lines whose `ts` is at or after this time (ms since the epoch). */
  since?: number;
  /** Only lines of this `sessionId`. */
  sessionId?: string;
  /** Only lines of this tool or prompt `name`. */
  name?: string;
  /** Bytes read at most, all files together. Default {@link MAX_SCAN_BYTES}. */
  maxScanBytes?: number;
  /** A line that is not a calls line was skipped (the file and why). */
  onSkipped?: (message: string) => void;
}

/** Default bound of one read: more than the whole journal with the default settings (6 files of 10 MiB). */
export const MAX_SCAN_BYTES = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;
/** A "line" longer than this is not one of ours (a file written by something else): skipped. */
const MAX_LINE = 1024 * 1024;
const READ_ATTEMPTS = 10;
const NEWLINE = 0x0a;

/** The newest lines of the calls journal in `dir` that match `q`, newest last; `[]` when there is no journal (or no directory). */
export async function readRecentCalls(dir: string, q: RecentCallsQuery): Promise<CallLine[]> {
  const opened = await openAll(dir);
  try {
    const found: CallLine[] = [];
    let budget = q.maxScanBytes ?? MAX_SCAN_BYTES;
    // Newest file first: the current one is last in the listing.
    for (const { file, fh } of opened.reverse()) {
      const r = await scanBackwards(file, fh, q, found, budget);
      budget -= r.read;
      if (r.done || budget <= 0) break;
    }
    return found.reverse();
  } finally {
    await Promise.all(opened.map((o) => o.fh.close()));
  }
}

/** Opens every file of the journal, oldest first, all of one generation (no rotation in between). */
async function openAll(dir: string): Promise<{ file: string; fh: FileHandle }[]> {
  const main = path.join(dir, CALLS_JOURNAL.current);
  for (let attempt = 1; ; attempt += 1) {
    const before = await inodeOf(main);
    let names: string[];
    try {
      names = CALLS_JOURNAL.oldestFirst(await readdir(dir));
    } catch (err) {
      // ENOENT: no server directory (yet): no calls either.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const opened: { file: string; fh: FileHandle }[] = [];
    let complete = true;
    try {
      for (const name of names) {
        const file = path.join(dir, name);
        try {
          opened.push({ file, fh: await open(file, 'r') });
        } catch (err) {
          // ENOENT: rotated away since the listing; the check below starts over.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          complete = false;
        }
      }
      if ((!complete || before !== (await inodeOf(main))) && attempt < READ_ATTEMPTS) {
        await Promise.all(opened.splice(0).map((o) => o.fh.close()));
        continue;
      }
      return opened;
    } catch (err) {
      await Promise.all(opened.map((o) => o.fh.close()));
      throw err;
    }
  }
}

async function inodeOf(file: string): Promise<bigint | undefined> {
  try {
    return (await stat(file, { bigint: true })).ino;
  } catch (err) {
    // ENOENT: between a rotation's rename and the new file, or no journal.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Reads one file from its end to its start, a chunk at a time, adding the lines that match to
 * `found` (newest first). `done` when no older line can be wanted (enough lines, or older than `since`).
 */
async function scanBackwards(file: string, fh: FileHandle, q: RecentCallsQuery, found: CallLine[], budget: number): Promise<{ read: number; done: boolean }> {
  const size = (await fh.stat()).size;
  let pos = size;
  let read = 0;
  // The bytes after the last newline seen: the end of a line whose start is further back.
  let carry = Buffer.alloc(0);
  // The file's last bytes, when they do not end in a newline, are a line still being written (or torn): not a line yet.
  let tail = true;
  // Cheap tests before a line is parsed: its JSON must hold the wanted strings as JSON writes them.
  const needles = [q.sessionId, q.name].flatMap((v) => (v === undefined ? [] : [JSON.stringify(v)]));
  // The line in `carry` grew past MAX_LINE: what is left of it further back is dropped too.
  let overlong = false;
  while (pos > 0 && read < budget) {
    const len = Math.min(CHUNK, pos, budget - read);
    const chunk = Buffer.alloc(len);
    const { bytesRead } = await fh.read(chunk, 0, len, pos - len);
    if (bytesRead < len) throw new Error(`${file}: shrank while being read`);
    pos -= len;
    read += len;
    // A newline byte never occurs inside a multi-byte UTF-8 character: splitting bytes is safe.
    const buf = carry.length > 0 ? Buffer.concat([chunk, carry]) : chunk;
    let end = buf.length;
    for (let i = buf.length - 1; i >= 0; i -= 1) {
      if (buf[i] !== NEWLINE) continue;
      const line = buf.subarray(i + 1, end);
      end = i;
      if (tail) tail = false;
      else if (overlong) overlong = false;
      else if (line.length > 0 && take(line, file, q, needles, found)) return { read, done: true };
    }
    carry = Buffer.from(buf.subarray(0, end));
    if (carry.length > MAX_LINE) {
      carry = Buffer.alloc(0);
      // Not at the tail: the tail is skipped anyway, and stays so until its newline.
      if (!tail) overlong = true;
      q.onSkipped?.(`${file}: a line longer than ${MAX_LINE} bytes; skipped`);
    }
  }
  // The file's first line has no newline before it.
  if (pos === 0 && carry.length > 0 && !tail && !overlong && take(carry, file, q, needles, found)) return { read, done: true };
  return { read, done: false };
}

/** Adds the line in `bytes` to `found` when it matches; true when the scan is done. */
function take(bytes: Buffer, file: string, q: RecentCallsQuery, needles: string[], found: CallLine[]): boolean {
  const text = bytes.toString('utf8');
  if (!needles.every((n) => text.includes(n))) return false;
  let line: CallLine;
  try {
    line = parseCallLine(text);
  } catch (err) {
    q.onSkipped?.(`${file}: not a calls line (${(err as Error).message}); skipped`);
    return false;
  }
  if (q.since !== undefined && Date.parse(line.ts) < q.since) return true;
  if (q.sessionId !== undefined && line.sessionId !== q.sessionId) return false;
  if (q.name !== undefined && line.name !== q.name) return false;
  found.push(line);
  return found.length >= q.limit;
}
