/**
 * The operations of one proxied POST by JSON-RPC id, for the answers read from the upstream's
 * JSON or SSE to find. A batch may repeat an id: each is kept, and each answer
 * with that id goes to the next of them still waiting, in the batch's order (the answers of
 * one id cannot be told apart). O(1) an answer, whatever the batch.
 */
import type { JsonRpcId, PendingOperation } from '../../operations/operation-tap.js';

/** What waits for answers, by id. */
export class PendingById {
  readonly #byId = new Map<JsonRpcId, { ops: PendingOperation[]; next: number }>();

  constructor(ops: readonly PendingOperation[] | undefined) {
    for (const op of ops ?? []) {
      const entry = this.#byId.get(op.id);
      if (entry) entry.ops.push(op);
      else this.#byId.set(op.id, { ops: [op], next: 0 });
    }
  }

  /** Whether any operation waits (else the answer need not be read). */
  get size(): number {
    return this.#byId.size;
  }

  /** The next operation with `id` still unanswered, taken; undefined when none is left. */
  take(id: JsonRpcId): PendingOperation | undefined {
    const entry = this.#byId.get(id);
    if (!entry || entry.next >= entry.ops.length) return undefined;
    return entry.ops[entry.next++];
  }
}
