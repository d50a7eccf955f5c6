/**
 * Reading one control request file as hostile input: never through a symbolic link
 * (O_NOFOLLOW), never blocking on a FIFO (O_NONBLOCK), only a regular file, and never more than
 * {@link CONTROL_REQUEST_MAX_BYTES} (a file that grows while it is read is caught too).
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { CONTROL_REQUEST_MAX_BYTES } from '../../shared/control-request.js';

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A file in the control directory that is not read as a request; `message` says why. */
export class RefusedRequestFile extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedRequestFile';
  }
}

/** What was read of a request file. */
export interface RequestFile {
  text: string;
  /** When it was last written (ms since the epoch). */
  mtimeMs: number;
}

/**
 * The text of the request file `file`. Throws {@link RefusedRequestFile} for a symbolic link,
 * anything but a regular file, or one larger than the limit; the fs error otherwise (ENOENT:
 * gone meanwhile).
 */
export async function readRequestFile(file: string): Promise<RequestFile> {
  let fh;
  try {
    fh = await open(file, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new RefusedRequestFile('a symbolic link (refused)');
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new RefusedRequestFile('not a regular file');
    if (st.size > CONTROL_REQUEST_MAX_BYTES) throw new RefusedRequestFile(`too large (${st.size} bytes, at most ${CONTROL_REQUEST_MAX_BYTES})`);
    // One byte more than allowed: if it is read, the file grew past the limit.
    const buf = Buffer.alloc(CONTROL_REQUEST_MAX_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > CONTROL_REQUEST_MAX_BYTES) throw new RefusedRequestFile(`too large (more than ${CONTROL_REQUEST_MAX_BYTES} bytes)`);
    }
    return { text: buf.toString('utf8', 0, length), mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}
