/**
 * The session slots of one MCP child (`--max-sessions`): open sessions, plus `initialize`
 * requests under way. An initialize takes its slot before its body is read, so that clients
 * sending slow bodies cannot get past the limit.
 */

/** Frees a reserved slot; calling it again does nothing. */
export type ReleaseSlot = () => void;

/** Counts reservations against `max` together with the sessions already open. */
export class SessionSlots {
  #reserved = 0;

  /**
   * @param max sessions held at once (`--max-sessions`)
   * @param open how many sessions are open now (each holds its own slot)
   */
  constructor(readonly max: number, private readonly open: () => number) {}

  /** `initialize` requests holding a slot now. */
  get reserved(): number {
    return this.#reserved;
  }

  /** Takes a slot for an `initialize`; undefined when all are taken. Free it once the session is open, or has failed. */
  reserve(): ReleaseSlot | undefined {
    if (this.open() + this.#reserved >= this.max) return undefined;
    this.#reserved += 1;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#reserved -= 1;
    };
  }
}
