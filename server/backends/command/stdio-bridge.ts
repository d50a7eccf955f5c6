/**
 * The bridge between one legacy session's Streamable HTTP transport and its stdio server
 * process (`--command`): what the client posts goes to the process's stdin, what the process
 * writes goes to the client. It has the shape of a hosted McpServer (`connect(transport)`,
 * `close()`), so the legacy leg hosts it like any other: the SDK's transport keeps handling
 * sessions, SSE and DELETE, and only the server behind it is another program.
 *
 * Routing what the process writes: a response goes to the HTTP request that carried its id
 * (the transport maps ids to streams); a progress notification to the stream of the request
 * that gave its `progressToken`; any other notification or server-to-client request to the
 * stream of the latest request still open (a stdio server sends them while it handles one, a
 * sampling request during a tool call), else to the session's GET stream.
 *
 * Flow control both ways ({@link BridgeFlow}): a stalled stream pauses the process's stdout; a
 * process that does not read its stdin gets its session's POSTs refused; past a hard limit
 * either way the session ends (its host's `onOverflow` callback).
 */
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { SessionOverflow } from '../hosted/server-source.js';
import { BridgeFlow, type BridgeFlowOptions } from './bridge-flow.js';
import type { StdioProcess, ProcessExit } from './stdio-process.js';

type Id = string | number;

/** The transport as the bridge uses it (the SDK's Streamable HTTP server transport, v1 shape). */
export interface BridgedTransport {
  onmessage?: ((message: unknown) => void) | undefined;
  start(): Promise<void>;
  send(message: unknown, options?: { relatedRequestId?: Id }): Promise<void>;
  close(): Promise<void>;
}

/** JSON-RPC error code of the answer to requests left open by a process that exited. */
const PROCESS_EXITED = -32603;
/** Client requests a session may have unanswered at once; past it a request is answered with an error, not forwarded. */
export const MAX_OPEN_REQUESTS = 1024;
/** Bytes counted for an answer the bridge makes itself (an error with a short message). */
const OWN_ANSWER_BYTES = 256;

function isId(v: unknown): v is Id {
  return typeof v === 'string' || typeof v === 'number';
}

/** One session's bridge: created with its started process, connected to its transport by the host. */
export class StdioBridge {
  readonly #proc: StdioProcess;
  readonly #onAssign: ((sessionId: string) => void) | undefined;
  #log: Logger;
  #transport: BridgedTransport | undefined;
  /** Client requests the process has not answered, oldest first. */
  readonly #open = new Set<Id>();
  /** progressToken → the request that carried it. */
  readonly #progress = new Map<Id, Id>();
  /** The latest request of #open (where a server's notifications go); no copy of #open per message. */
  #latest: Id | undefined;
  readonly #flow: BridgeFlow;
  readonly #overflowed: ((o: SessionOverflow) => void)[] = [];
  #overflow: SessionOverflow | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * `onAssign`: told the session id once the host has one for it (see {@link assignSession}).
   * `flow`: limits of its flow control (tests); default those of {@link BridgeFlow}.
   */
  constructor(proc: StdioProcess, logger: Logger, onAssign?: (sessionId: string) => void, flow?: BridgeFlowOptions) {
    this.#proc = proc;
    this.#onAssign = onAssign;
    this.#log = logger;
    this.#flow = new BridgeFlow(proc, (o) => this.#onOverflow(o), flow);
    proc.on('message', (m, bytes) => void this.#fromProcess(m as Record<string, unknown>, bytes));
    proc.on('exit', (e) => this.#answerOpen(e));
  }

  /** The process's pid (= its process group). */
  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /** Logs from now on with `logger` (one that names the session). */
  useLogger(logger: Logger): void {
    this.#log = logger;
    this.#proc.useLogger(logger);
  }

  /** The process serves session `sessionId` (it is listed with it in the snapshot's `processes`). */
  assignSession(sessionId: string): void {
    this.#onAssign?.(sessionId);
  }

  /** An HTTP response of the session (a POST's, the GET stream): a stalled one pauses the process's output. */
  watch(res: Writable): void {
    this.#flow.watch(res);
  }

  /** False while the process has not read more than the soft limit of what it was sent: a new POST gets 503. */
  get accepting(): boolean {
    return this.#flow.accepting;
  }

  /** `cb(why)` runs once when the session passed a hard limit of its flow control and must end. */
  onOverflow(cb: (o: SessionOverflow) => void): void {
    if (this.#overflow !== undefined) process.nextTick(cb, this.#overflow);
    else this.#overflowed.push(cb);
  }

  /** Called by the host, as `McpServer.connect(transport)` would be. */
  async connect(transport: BridgedTransport): Promise<void> {
    if (this.#closed) throw new Error('StdioBridge closed');
    if (this.#transport) throw new Error('StdioBridge already connected');
    this.#transport = transport;
    transport.onmessage = (m) => this.#fromClient(m as Record<string, unknown>);
    await transport.start();
  }

  /**
   * Ends the process (stdin closed, then SIGTERM, then SIGKILL: {@link StdioProcess.stop}) and
   * the session's streams; resolves when the process has exited. The same promise every time.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // What the process still writes is for no one; reading it lets it finish and exit on EOF.
    this.#closed = true;
    this.#flow.close();
    try {
      await this.#proc.stop();
    } finally {
      await this.#transport?.close();
    }
  }

  /** Resolves when the process has exited. */
  get exited(): Promise<ProcessExit> {
    return this.#proc.exited;
  }

  /** `cb` runs once when the process has exited (on the next tick if it already has). */
  onProcessExit(cb: () => void): void {
    if (this.#proc.exit) process.nextTick(cb);
    else this.#proc.once('exit', () => cb());
  }

  #fromClient(m: Record<string, unknown>): void {
    if (typeof m.method === 'string' && isId(m.id)) {
      if (this.#open.size >= MAX_OPEN_REQUESTS && !this.#open.has(m.id)) {
        void this.#send({ jsonrpc: '2.0', id: m.id, error: { code: PROCESS_EXITED, message: `Too many requests open in this session (limit ${MAX_OPEN_REQUESTS})` } }, OWN_ANSWER_BYTES).catch((err: Error) => this.#log.debug({ err: err.message }, 'error answer not delivered'));
        return;
      }
      this.#open.add(m.id);
      this.#latest = m.id;
      const token = (m.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta?.progressToken;
      if (isId(token)) this.#progress.set(token, m.id);
    }
    if (!this.#proc.send(m)) {
      if (typeof m.method === 'string' && isId(m.id)) void this.#answer(m.id, 'The MCP server process has exited');
      return;
    }
    this.#flow.wrote();
  }

  async #fromProcess(m: Record<string, unknown>, bytes: number): Promise<void> {
    const transport = this.#transport;
    if (!transport || this.#closed) return;
    const isResponse = isId(m.id) && (m.result !== undefined || m.error !== undefined) && m.method === undefined;
    let related: Id | undefined;
    if (isResponse) {
      const id = m.id as Id;
      // A response to nothing the client asked (or asked and abandoned): not for anyone.
      if (!this.#forget(id)) return;
    } else if (m.method === 'notifications/progress') {
      const token = (m.params as { progressToken?: unknown } | undefined)?.progressToken;
      related = isId(token) ? this.#progress.get(token) : undefined;
    }
    if (!isResponse && related === undefined) related = this.#latest;
    try {
      await this.#send(m, bytes, related === undefined ? undefined : { relatedRequestId: related });
    } catch (err) {
      // The stream of that request is gone (the client went away): try the session's own.
      if (isResponse || related === undefined) {
        this.#log.debug({ err: (err as Error).message }, 'message of a stdio server not delivered');
        return;
      }
      await this.#send(m, bytes).catch((e: Error) => this.#log.debug({ err: e.message }, 'message of a stdio server not delivered'));
    }
  }

  /** The process exited: every request it left open gets an error, not a hang. */
  #answerOpen(e: ProcessExit): void {
    const why = e.error ? e.error.message : e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
    for (const id of [...this.#open]) void this.#answer(id, `The MCP server process exited (${why})`);
  }

  /** `id` is answered: out of #open and #progress; false when it was not open. */
  #forget(id: Id): boolean {
    if (!this.#open.delete(id)) return false;
    if (this.#progress.size > 0) for (const [token, rid] of this.#progress) if (rid === id) this.#progress.delete(token);
    if (this.#latest === id) {
      // Only when the latest is answered: the newest still open (Sets keep insertion order).
      this.#latest = undefined;
      for (const open of this.#open) this.#latest = open;
    }
    return true;
  }

  async #answer(id: Id, message: string): Promise<void> {
    this.#forget(id);
    await this.#send({ jsonrpc: '2.0', id, error: { code: PROCESS_EXITED, message } }, OWN_ANSWER_BYTES).catch((err: Error) => this.#log.debug({ err: err.message }, 'error answer not delivered'));
  }

  /** Every message toward the client goes through the flow control: `bytes` is its size. */
  async #send(m: unknown, bytes: number, options?: { relatedRequestId?: Id }): Promise<void> {
    const transport = this.#transport;
    if (!transport) return;
    this.#flow.sending(bytes);
    await transport.send(m, options);
  }

  #onOverflow(o: SessionOverflow): void {
    this.#overflow = o;
    this.#log.warn({ stdioPid: this.#proc.pid, why: o.why, reason: o.reason }, 'session ended: flow control limit passed');
    for (const cb of this.#overflowed.splice(0)) cb(o);
  }
}
