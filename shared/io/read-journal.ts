/**
 * Reads the journal of a server directory (shared/journal.ts says what its lines are): the
 * files, rotated ones first, and their lines. For `inspect`, the tests and the soak check.
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { parseJournalText, type JournalLine } from '../journal.js';
import { EVENT_JOURNAL, type JournalNames } from '../journal-names.js';
import { JOURNAL_FILE } from '../paths.js';
import { StateFileError } from '../state-file-error.js';

/** The files of a journal (default the event journal) in a server directory, oldest first (`events.N.jsonl` … `events.jsonl`). */
export async function journalFiles(dir: string, names: JournalNames = EVENT_JOURNAL): Promise<string[]> {
  return names.oldestFirst(await readdir(dir)).map((n) => path.join(dir, n));
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
