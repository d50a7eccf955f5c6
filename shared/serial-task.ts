/**
 * A re-read loop that never overlaps itself: what the API's snapshot watcher and `tail` run per
 * server. A run asked for while one is under way makes exactly one more run after it (so the
 * last request always sees the latest files, and results land in order). `poke()` also runs it
 * once more `settleMs` later: chokidar emits no trailing event for a burst (https://github.com/paulmillr/chokidar/issues/1455).
 */

export interface SerialTaskOptions {
  /** Delay of the re-run after a `poke()`. Default 75. */
  settleMs?: number;
  /**
   * What the delayed re-run does; default `run()`. A caller may first check that the file
   * changed (and skip the read when it did not).
   */
  onSettle?: () => Promise<void>;
  /** Called with what a run (or the settle re-run) threw; the loop goes on. */
  onError: (err: unknown) => void;
}

/** Runs `task` serially: see the module comment. Owns one timer, cleared by `close()`. */
export class SerialTask {
  readonly #task: () => Promise<void>;
  readonly #settleMs: number;
  readonly #onSettle: () => Promise<void>;
  readonly #onError: (err: unknown) => void;
  #running: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #closePromise: Promise<void> | undefined;

  constructor(task: () => Promise<void>, options: SerialTaskOptions) {
    this.#task = task;
    this.#settleMs = options.settleMs ?? 75;
    this.#onSettle = options.onSettle ?? (() => this.run());
    this.#onError = options.onError;
  }

  /** Whether a run is under way. */
  get busy(): boolean {
    return this.#running !== null;
  }

  /** Runs the task now, or once more after the run under way; resolves when the runs are done. */
  run(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          await this.#task();
        } catch (err) {
          this.#onError(err);
        }
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** Runs now and once more `settleMs` later (each poke restarts that delay). */
  poke(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#onSettle().catch((err: unknown) => this.#onError(err));
    }, this.#settleMs).unref();
    return this.run();
  }

  /** No more runs; resolves when the run under way (if any) is done. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      this.#closed = true;
      clearTimeout(this.#timer);
      await this.#running;
    })();
    return this.#closePromise;
  }
}
