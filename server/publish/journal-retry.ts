/**
 * When and how long the journal writer (server/publish/journal-writer.ts) waits before it writes again
 * a line that failed for want of room or descriptors: such a failure passes once space or a
 * descriptor is freed, so the line is kept rather than dropped.
 *
 * The waits double from {@link RETRY_FIRST_MS} to {@link RETRY_MAX_MS}. Once the writer is
 * closing, a wait in progress ends at once and all further tries fit in {@link CLOSE_RETRY_MS}:
 * a stopping server must not hang on a full disk. Times are monotonic: a clock step changes
 * no wait.
 */
import { performance } from 'node:perf_hooks';

/** Errors that pass once the disk has room or descriptors are free. */
const TRANSIENT = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'EAGAIN', 'ESHORTWRITE']);

/** First and longest wait before a retry (doubling in between). */
export const RETRY_FIRST_MS = 50;
export const RETRY_MAX_MS = 2000;
/** Once closing, retries stop after this long in all. */
export const CLOSE_RETRY_MS = 1500;

/** Whether `err` is a failure for want of room or descriptors, worth a retry of the same line. */
export function isTransient(err: unknown): boolean {
  return TRANSIENT.has((err as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/** A write that wrote only part of its bytes (a full disk); code `ESHORTWRITE`, so transient. */
export function shortWriteError(written: number, total: number): Error {
  return Object.assign(new Error(`short write (${written} of ${total} bytes; the disk is probably full)`), { code: 'ESHORTWRITE' });
}

export class RetryBackoff {
  #nextMs = RETRY_FIRST_MS;
  #tries = 0;
  #since = 0;
  #deadline: number | undefined;
  #wake: (() => void) | undefined;

  /** Retries since the last success. */
  get tries(): number {
    return this.#tries;
  }

  /** Milliseconds since the first failure of this run of failures. */
  get failingMs(): number {
    return this.#tries === 0 ? 0 : performance.now() - this.#since;
  }

  /** A write succeeded: the next failure starts again from the shortest wait. */
  reset(): void {
    this.#nextMs = RETRY_FIRST_MS;
    this.#tries = 0;
  }

  /** Waits before the next try; resolves false, at once, when closing and the time is up. */
  async wait(): Promise<boolean> {
    if (this.#tries === 0) this.#since = performance.now();
    const left = this.#deadline === undefined ? Infinity : this.#deadline - performance.now();
    if (left <= 0) return false;
    const ms = Math.min(this.#nextMs, left);
    this.#nextMs = Math.min(RETRY_MAX_MS, this.#nextMs * 2);
    this.#tries += 1;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
    return true;
  }

  /** The writer is closing: the wait in progress ends now, the tries left fit in CLOSE_RETRY_MS. */
  hurry(): void {
    this.#deadline ??= performance.now() + CLOSE_RETRY_MS;
    this.#nextMs = RETRY_FIRST_MS;
    this.interrupt();
  }

  /** Ends the wait in progress now (the caller then looks again at whether to go on). */
  interrupt(): void {
    this.#wake?.();
  }
}
