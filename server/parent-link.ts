/**
 * The child's link to the API that spawned it: an IPC channel, which closes when the API exits,
 * even by SIGKILL (when the API goes away, its children go too: no orphans). Watched from the
 * child's first moment, not once it has started: the API may die while the backend loads or the
 * lock is taken, and a `disconnect` nobody listened for is lost. A child whose channel had closed
 * before its code ran at all (the API died while Node booted) is told by the API's marker in its
 * environment, {@link SUPERVISED_ENV}: spawned by an API, yet no channel.
 */
import { SUPERVISED_ENV } from '../shared/settings.js';

/**
 * Watches the link: it has no start(), the constructor starts watching (from the child's first
 * moment). `close()` stops it: its `disconnect` listener is removed and `onGone` is never called
 * after; the channel itself is left as it is (unreferenced, it keeps nothing alive; it closes
 * when this process exits). The same promise every time.
 */
export class ParentLink {
  #gone = false;
  #onGone: (() => void) | undefined;
  readonly #lost = (): void => {
    this.#gone = true;
    this.#onGone?.();
  };
  #closed: Promise<void> | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const supervised = env[SUPERVISED_ENV] === '1';
    // Not for what this process spawns (the stdio servers of --command).
    delete env[SUPERVISED_ENV];
    if (process.channel) {
      // Only a lifeline: it must never keep this process alive.
      process.channel.unref();
      process.once('disconnect', this.#lost);
    } else if (supervised) {
      this.#gone = true;
    }
  }

  /** The API that spawned this process has gone. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Calls `fn` when the API goes (at once if it has gone already). */
  onGone(fn: () => void): void {
    if (this.#closed) return;
    this.#onGone = fn;
    if (this.#gone) fn();
  }

  /** Stops watching. */
  close(): Promise<void> {
    if (!this.#closed) {
      process.off('disconnect', this.#lost);
      this.#onGone = undefined;
      this.#closed = Promise.resolve();
    }
    return this.#closed;
  }
}
