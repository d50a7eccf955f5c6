/**
 * Reading the snapshot of one server of a state directory: the file must also be of the server
 * whose directory holds it. A snapshot copied (or written by mistake) into another server's
 * directory would otherwise be shown under the wrong name.
 */
import { readSnapshotFileText } from './read-snapshot.js';
import type { Snapshot } from '../snapshot.js';
import { StateFileError } from '../state-file-error.js';

/**
 * Reads and validates `file`, the snapshot of `serverId` (any server when undefined), and gives
 * the JSON line it was read from. Throws {@link StateFileError}: `EINVALID` for a snapshot
 * of another server.
 */
export async function readServerSnapshot(file: string, serverId: string | undefined): Promise<{ snapshot: Snapshot; json: string }> {
  const read = await readSnapshotFileText(file);
  if (serverId !== undefined && read.snapshot.serverId !== serverId) {
    throw new StateFileError(file, 'EINVALID', `invalid snapshot: serverId is ${JSON.stringify(read.snapshot.serverId)} but the file is in the directory of ${JSON.stringify(serverId)}`);
  }
  return read;
}
