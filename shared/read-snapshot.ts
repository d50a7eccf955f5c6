/**
 * Reading a persisted snapshot, for every reader (the API's watcher, the CLI).
 * The writer replaces the file by rename, so a read sees a whole old or a whole new file.
 */
import { readFile } from 'node:fs/promises';
import { parseSnapshot, type Snapshot } from './snapshot.js';

/**
 * A snapshot file that could not be read or is not a valid snapshot. `code` is the fs error
 * code (`ENOENT`, `EACCES`, …) or `EINVALID`; the message names the file and what is wrong.
 */
export class SnapshotReadError extends Error {
  readonly code: string;
  readonly file: string;
  constructor(file: string, code: string, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
    this.name = 'SnapshotReadError';
    this.code = code;
    this.file = file;
  }
}

function describeFsError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a snapshot file';
    default:
      return err.message;
  }
}

/** Reads and validates one snapshot file; throws {@link SnapshotReadError}. */
export async function readSnapshotFile(file: string): Promise<Snapshot> {
  return (await readSnapshotFileText(file)).snapshot;
}

/**
 * Like {@link readSnapshotFile}, and also gives the file's JSON line as it was read (without
 * the newline), so that a reader passing it on (SSE) need not serialize it again.
 */
export async function readSnapshotFileText(file: string): Promise<{ snapshot: Snapshot; json: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SnapshotReadError(file, e.code ?? 'EIO', describeFsError(e), { cause: err });
  }
  try {
    return { snapshot: parseSnapshot(text), json: text.trimEnd() };
  } catch (err) {
    throw new SnapshotReadError(file, 'EINVALID', `invalid snapshot: ${(err as Error).message}`, { cause: err });
  }
}
