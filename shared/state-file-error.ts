/**
 * The one error of the readers of the state files (snapshot, journal): a file that could not be
 * read or does not hold what it should.
 */
import { errnoPhrase } from './errno.js';

/**
 * A state file that could not be read or is not valid. `code` is the fs error code (`ENOENT`,
 * `EACCES`, …) or `EINVALID`; the message is `<file>: <detail>`.
 */
export class StateFileError extends Error {
  readonly code: string;
  readonly file: string;
  constructor(file: string, code: string, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
    this.name = 'StateFileError';
    this.code = code;
    this.file = file;
  }

  /** The error of an fs call on `file`, in the words of {@link errnoPhrase} (`what` names a missing thing). */
  static fromErrno(file: string, err: unknown, what?: string): StateFileError {
    const code = (err as NodeJS.ErrnoException)?.code ?? 'EIO';
    return new StateFileError(file, code, errnoPhrase(err, what), { cause: err });
  }
}
