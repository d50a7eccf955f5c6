/** The one place that turns a file-system error into the words a user reads. */

/**
 * A short phrase for an fs error: `no such file or directory`, `permission denied`, … and the
 * error's own message for anything else. `what` names the missing thing for ENOENT when given.
 */
export function errnoPhrase(err: unknown, what?: string): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return what ? `no such ${what}` : 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'ELOOP':
      return 'is a symbolic link (refused)';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on device';
    default:
      return e instanceof Error ? e.message : String(err);
  }
}
