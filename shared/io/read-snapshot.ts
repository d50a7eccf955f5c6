/**
 * Reading a persisted snapshot, for every reader (the API's watcher, the CLI).
 * The writer replaces the file by rename, so a read sees a whole old or a whole new file.
 */
import { readFile } from 'node:fs/promises';
import { parseSnapshot, type Snapshot } from '../snapshot.js';
import { StateFileError } from '../state-file-error.js';

/**
 * The error of a snapshot file that could not be read or is not a valid snapshot: a
 * {@link StateFileError} (kept under this name for the callers that know it).
 */
export const SnapshotReadError = StateFileError;
export type SnapshotReadError = StateFileError;

/** Reads and validates one snapshot file; throws {@link StateFileError}. */
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
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new StateFileError(file, 'EISDIR', 'is a directory, not a snapshot file', { cause: err });
    throw StateFileError.fromErrno(file, err, 'file');
  }
  try {
    return { snapshot: parseSnapshot(text), json: text.trimEnd() };
  } catch (err) {
    throw new StateFileError(file, 'EINVALID', `invalid snapshot: ${(err as Error).message}`, { cause: err });
  }
}
