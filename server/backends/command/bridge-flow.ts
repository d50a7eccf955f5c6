/**
 * Flow control of one `--command` session, both ways. Toward the client: the
 * process's stdout is paused while one of the session's HTTP streams (the SSE response of a
 * POST, the GET stream) needs drain, and resumed once every one has drained, so that a client
 * that reads slowly or not at all stalls its own process (its stdout pipe fills, its writes
 * block) instead of growing the child's heap. What still reaches the transport while stalled
 * (the rest of a chunk already read, the bridge's own error answers) is counted; past
 * {@link OUTPUT_BUDGET_BYTES} the session is ended. Toward the process: while its stdin holds
 * more than {@link INPUT_SOFT_BYTES} not yet read, the session's POSTs are refused (503), and
 * past {@link INPUT_HARD_BYTES} the session is ended.
 */
import type { Writable } from 'node:stream';
import type { SessionOverflow } from '../hosted/server-source.js';

/** Bytes a session may queue toward its client while one of its streams is stalled; past it the session ends. */
export const OUTPUT_BUDGET_BYTES = 8 * 1024 * 1024;
/** Bytes waiting in a process's stdin past which the session's POSTs get 503 with Retry-After. */
export const INPUT_SOFT_BYTES = 8 * 1024 * 1024;
/** Bytes waiting in a process's stdin past which the session ends (concurrent POSTs can pass the soft limit). */
export const INPUT_HARD_BYTES = 16 * 1024 * 1024;

/** What the flow controls: the process's output and the way to end the session. */
export interface FlowTarget {
  /** Stops reading the process's stdout (its pipe fills, its writes block). */
  pauseOutput(): void;
  /** Reads its stdout again. */
  resumeOutput(): void;
  /** Bytes written to its stdin that it has not read yet. */
  readonly inputBacklog: number;
}

/** Options of {@link BridgeFlow}; the defaults are the exported constants. */
export interface BridgeFlowOptions {
  /** Default {@link OUTPUT_BUDGET_BYTES}. */
  outputBudget?: number;
  /** Default {@link INPUT_SOFT_BYTES}. */
  inputSoft?: number;
  /** Default {@link INPUT_HARD_BYTES}. */
  inputHard?: number;
}

/** One session's flow control; `onOverflow` runs once when a hard limit is passed. */
export class BridgeFlow {
  readonly #target: FlowTarget;
  readonly #onOverflow: (o: SessionOverflow) => void;
  readonly #outputBudget: number;
  readonly #inputSoft: number;
  readonly #inputHard: number;
  /** The session's HTTP responses still open. */
  readonly #streams = new Set<Writable>();
  #stalled = false;
  /** Bytes given to the transport since the stall began. */
  #queued = 0;
  #overflowed = false;
  #closed = false;

  constructor(target: FlowTarget, onOverflow: (o: SessionOverflow) => void, o: BridgeFlowOptions = {}) {
    this.#target = target;
    this.#onOverflow = onOverflow;
    this.#outputBudget = o.outputBudget ?? OUTPUT_BUDGET_BYTES;
    this.#inputSoft = o.inputSoft ?? INPUT_SOFT_BYTES;
    this.#inputHard = o.inputHard ?? INPUT_HARD_BYTES;
  }

  /** Whether the process's output is paused for a stalled stream. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** An HTTP response of the session: what the transport writes to it is watched. */
  watch(res: Writable): void {
    if (this.#closed || res.destroyed || res.writableEnded) return;
    this.#streams.add(res);
    // A stalled stream that closes is also seen by #waitFor.
    res.once('close', () => this.#streams.delete(res));
  }

  /** Whether the process reads what it is sent: false when a new POST should get 503. */
  get accepting(): boolean {
    return this.#target.inputBacklog <= this.#inputSoft;
  }

  /** After a message was written to the process's stdin: past the hard limit the session ends. */
  wrote(): void {
    const backlog = this.#target.inputBacklog;
    if (backlog > this.#inputHard) this.#overflow('process-exit', `the MCP server process did not read ${backlog} bytes of its input (limit ${this.#inputHard})`);
  }

  /**
   * Before a message of `bytes` is given to the transport: stalls the output when a stream
   * needs drain (the state left by earlier writes), counts it when stalled.
   */
  sending(bytes: number): void {
    if (this.#closed) return;
    if (!this.#stalled) {
      const full = [...this.#streams].filter((s) => s.writableNeedDrain);
      if (full.length === 0) return;
      this.#stalled = true;
      this.#queued = 0;
      this.#target.pauseOutput();
      this.#waitFor(full);
    }
    this.#queued += bytes;
    if (this.#queued > this.#outputBudget) this.#overflow('close', `the client did not read ${this.#queued} bytes of its streams (limit ${this.#outputBudget})`);
  }

  /** No more watching; the output flows again (so that a process told to end can finish writing and exit). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#streams.clear();
    if (this.#stalled) {
      this.#stalled = false;
      this.#target.resumeOutput();
    }
  }

  #waitFor(full: Writable[]): void {
    let left = full.length;
    const one = () => {
      if (--left === 0) this.#recheck();
    };
    for (const s of full) {
      let done = false;
      const once = () => {
        if (done) return;
        done = true;
        s.off('drain', once);
        s.off('close', once);
        one();
      };
      s.on('drain', once);
      s.on('close', once);
    }
  }

  /**
   * Every stalled stream drained (or closed). The transport's own queue refills a stream on
   * 'drain' within the same turn (promise callbacks), so the check waits for the next one: a
   * stream still needing drain then means more was queued behind it.
   */
  #recheck(): void {
    setImmediate(() => {
      if (this.#closed || !this.#stalled) return;
      const full = [...this.#streams].filter((s) => s.writableNeedDrain);
      if (full.length > 0) return this.#waitFor(full);
      this.#stalled = false;
      this.#queued = 0;
      this.#target.resumeOutput();
    });
  }

  #overflow(reason: SessionOverflow['reason'], why: string): void {
    if (this.#overflowed || this.#closed) return;
    this.#overflowed = true;
    this.#onOverflow({ reason, why });
  }
}
