/**
 * The operator actions of one supervisor: run one after the other, in the order
 * asked, each once the previous one is done. A request identical to the last one still waiting
 * (not yet begun) is merged into it: it gets the same promise, so a burst of N `restart`s gives
 * at most two kill-and-spawn cycles (the one under way and one more), not N. Waiting actions
 * (behind the one under way) are bounded: past {@link ACTION_QUEUE_MAX} a new, different one
 * is refused with {@link ActionQueueFull}.
 */

/** Actions waiting (not yet begun) at most, per supervisor. */
export const ACTION_QUEUE_MAX = 4;

/** Too many different actions are already waiting: the request is refused, nothing queued. */
export class ActionQueueFull extends Error {
  readonly code = 'queue_full';
  constructor(readonly max: number) {
    super(`${max} supervisor actions are already waiting; try again once they are done`);
    this.name = 'ActionQueueFull';
  }
}

interface Waiting<K, R> {
  kind: K;
  result: Promise<R>;
}

/** Runs actions of kind `K` (e.g. `'restart'`) one at a time, merging repeats. */
export class ActionQueue<K extends string, R> {
  readonly #max: number;
  /** Settles when the last action queued has finished (never rejects). */
  #tail: Promise<unknown> = Promise.resolve();
  /** Actions queued behind another and not begun yet, oldest first. */
  readonly #waiting: Waiting<K, R>[] = [];
  /** Actions queued and not finished (the one under way included). */
  #unfinished = 0;

  /** @param max actions waiting at most; default {@link ACTION_QUEUE_MAX}. */
  constructor(max = ACTION_QUEUE_MAX) {
    this.#max = max;
  }

  /** Actions queued behind another and not begun yet. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Queues `action` of `kind` and resolves with its result. When the last waiting action is of
   * the same kind, returns its promise instead (`action` is not run). Rejects with
   * {@link ActionQueueFull} when {@link ACTION_QUEUE_MAX} actions are already waiting.
   */
  run(kind: K, action: () => Promise<R>): Promise<R> {
    const last = this.#waiting.at(-1);
    if (last?.kind === kind) return last.result;
    if (this.#waiting.length >= this.#max) return Promise.reject(new ActionQueueFull(this.#max));
    // With nothing ahead it is under way at once (it begins in a microtask): not waiting.
    const waits = this.#unfinished > 0;
    this.#unfinished += 1;
    const entry: Waiting<K, R> = { kind, result: undefined as unknown as Promise<R> };
    entry.result = this.#tail
      .then(() => {
        // Begun: a later identical request is a new action (this one may be half done already).
        if (waits) this.#waiting.splice(this.#waiting.indexOf(entry), 1);
        return action();
      })
      .finally(() => {
        this.#unfinished -= 1;
      });
    if (waits) this.#waiting.push(entry);
    this.#tail = entry.result.catch(() => undefined);
    return entry.result;
  }

  /** Settles once every action queued so far has finished. */
  idle(): Promise<void> {
    return this.#tail.then(() => undefined);
  }
}
