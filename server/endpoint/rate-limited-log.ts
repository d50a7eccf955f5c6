/**
 * Counts warnings of one kind and lets through at most `perMinute` of them a minute; the rest
 * are counted and summarised ("dropped N") when the next window opens. The window runs on the
 * monotonic clock, so a wall-clock step neither mutes nor floods the log.
 */
import { performance } from 'node:perf_hooks';

/** Options of {@link RateLimitedLog}. */
export interface RateLimitedLogOptions {
  /** Lines let through a window. */
  perMinute: number;
  /** Called once a window with the count of lines held back in the one before. */
  onDropped: (dropped: number) => void;
  /** Window length in ms. Default 60000. */
  windowMs?: number;
  /** A monotonic clock in ms. Default `performance.now`. */
  clock?: () => number;
}

/** One rate limit: `allow()` says whether this line may be logged. */
export class RateLimitedLog {
  readonly #o: RateLimitedLogOptions;
  readonly #now: () => number;
  #windowStart: number | undefined;
  #count = 0;
  #dropped = 0;

  constructor(options: RateLimitedLogOptions) {
    this.#o = options;
    this.#now = options.clock ?? (() => performance.now());
  }

  /** True when this line may be logged; false when it is counted instead. */
  allow(): boolean {
    const now = this.#now();
    if (this.#windowStart === undefined || now - this.#windowStart >= (this.#o.windowMs ?? 60_000)) {
      this.flush();
      this.#windowStart = now;
      this.#count = 0;
    }
    if (this.#count >= this.#o.perMinute) {
      this.#dropped += 1;
      return false;
    }
    this.#count += 1;
    return true;
  }

  /** Reports what was held back so far (at the end of a window, or when the process exits). */
  flush(): void {
    if (this.#dropped === 0) return;
    const dropped = this.#dropped;
    this.#dropped = 0;
    this.#o.onDropped(dropped);
  }
}
