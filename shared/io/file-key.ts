/** Whether a state file changed since it was last read, without reading it. */
import { stat } from 'node:fs/promises';

/**
 * The identity of one version of a file: every atomic replacement makes a new inode, and ext4
 * may reuse inodes, so size and nanosecond times go with it. Undefined when the file does not
 * exist (ENOENT); any other error (EACCES, ELOOP, …) is thrown, for the caller to report.
 */
export async function fileKey(file: string): Promise<string | undefined> {
  try {
    const st = await stat(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
