/**
 * Server-Sent Events for `GET /api/mcp/events`: `event: snapshot`, `id: <serverId>:<pid>:<seq>`,
 * `data: <snapshot JSON>` at connect and on every new snapshot; a comment line keeps idle
 * connections open through proxies.
 *
 * A slow reader never makes the API buffer without bound: every frame carries the whole state
 * of its server, so while a client's socket is backed up nothing more is queued for it; only
 * the latest snapshot of each server is kept aside and sent when the socket drains (the client
 * skips the seqs in between). A client that does not drain for `stuckMs` is dropped; it
 * reconnects (EventSource does) and gets the current state.
 */
import type { Request, Response } from 'express';
import type { Snapshot } from '../shared/snapshot.js';
import { sendError } from './http-errors.js';

/**
 * Default cap on SSE subscribers at once: each one is sent every snapshot, so their
 * number bounds the API's fan-out work. Past it a new subscriber gets 503 `too_many_subscribers`.
 */
export const MAX_SSE_CLIENTS = 1000;

export interface SseHubOptions {
  /** Comment line interval. Default 15000. */
  keepAliveMs?: number;
  /** A client whose socket stays backed up this long is dropped. Default 60000. */
  stuckMs?: number;
  /** Subscribers at once; past it 503. Default {@link MAX_SSE_CLIENTS}. */
  maxClients?: number;
  /** The JSON text a snapshot was read from, when known: sent as is instead of serializing it again. */
  jsonOf?: (snapshot: Snapshot) => string | undefined;
}

interface Client {
  res: Response;
  serverId: string | undefined;
  /** Latest snapshot per server held back while the socket is backed up. */
  held: Map<string, Snapshot>;
  /** Since when the socket is backed up (ms), if it is. */
  blockedSince: number | undefined;
}

/** The SSE frame of one snapshot. */
export function snapshotEvent(snapshot: Snapshot, json: string = JSON.stringify(snapshot)): string {
  return `event: snapshot\nid: ${snapshot.serverId}:${snapshot.pid}:${snapshot.seq}\ndata: ${json}\n\n`;
}

/**
 * The SSE subscribers of the API: `add()` a request, `broadcast()` every new snapshot, `close()`
 * at shutdown. It has no start(): it serves from its construction, and its keep-alive timer
 * runs from the first `add()` until close(); an `add()` after close() is refused and starts nothing.
 */
export class SseHub {
  readonly #clients = new Set<Client>();
  readonly #keepAliveMs: number;
  readonly #stuckMs: number;
  readonly #maxClients: number;
  readonly #jsonOf: (snapshot: Snapshot) => string | undefined;
  /** Frames are built once per snapshot, whatever the number of clients. */
  readonly #frames = new WeakMap<Snapshot, string>();
  #timer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: SseHubOptions = {}) {
    this.#keepAliveMs = options.keepAliveMs ?? 15_000;
    this.#stuckMs = options.stuckMs ?? 60_000;
    this.#maxClients = options.maxClients ?? MAX_SSE_CLIENTS;
    this.#jsonOf = options.jsonOf ?? (() => undefined);
  }

  /** Subscribers now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Takes over a request: sends headers and the current snapshots (already filtered by the caller). */
  add(req: Request, res: Response, serverId: string | undefined, initial: Snapshot[]): void {
    if (this.#closed) {
      res.set('Connection', 'close');
      return sendError(res, 503, 'shutting_down', 'The API is shutting down');
    }
    if (this.#clients.size >= this.#maxClients) {
      // A browser's EventSource gives up on a 503 (no retry); Retry-After tells other clients when to come back.
      res.set('Retry-After', '10');
      return sendError(res, 503, 'too_many_subscribers', `Too many SSE subscribers (at most ${this.#maxClients}); try again later`);
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    const client: Client = { res, serverId, held: new Map(), blockedSince: undefined };
    this.#clients.add(client);
    req.socket.setNoDelay(true);
    res.write(`retry: 2000\n\n`);
    for (const s of initial) this.#send(client, s);
    res.on('drain', () => this.#drained(client));
    res.on('close', () => this.#clients.delete(client));
    this.#timer ??= setInterval(() => this.#keepAlive(), this.#keepAliveMs).unref();
  }

  /** Sends `snapshot` to every subscriber of its server (call on every new snapshot). */
  broadcast(snapshot: Snapshot): void {
    for (const c of this.#clients) {
      if (c.serverId === undefined || c.serverId === snapshot.serverId) this.#send(c, snapshot);
    }
  }

  /**
   * Ends every stream (at shutdown) and stops the keep-alive timer; later subscribers get 503.
   * A stream whose socket is backed up is cut, not ended: its client is not reading, and would
   * never read the end. Resolves when every stream has closed; the same promise every time.
   */
  close(): Promise<void> {
    this.#closed ??= (() => {
      clearInterval(this.#timer);
      const closed = [...this.#clients].map((c) => new Promise<void>((resolve) => {
        c.res.once('close', () => resolve());
        if (c.blockedSince === undefined) c.res.end();
        else c.res.destroy();
      }));
      this.#clients.clear();
      return Promise.all(closed).then(() => undefined);
    })();
    return this.#closed;
  }

  #frame(snapshot: Snapshot): string {
    let frame = this.#frames.get(snapshot);
    if (frame === undefined) {
      // A `data:` field is one line: a file written by hand over several lines is re-serialized.
      const json = this.#jsonOf(snapshot);
      frame = snapshotEvent(snapshot, json !== undefined && !/[\r\n]/.test(json) ? json : undefined);
      this.#frames.set(snapshot, frame);
    }
    return frame;
  }

  #send(c: Client, snapshot: Snapshot): void {
    if (c.blockedSince !== undefined) {
      c.held.set(snapshot.serverId, snapshot);
      return;
    }
    if (!c.res.write(this.#frame(snapshot))) c.blockedSince = Date.now();
  }

  #drained(c: Client): void {
    c.blockedSince = undefined;
    const held = [...c.held.values()];
    c.held.clear();
    for (const s of held) this.#send(c, s);
  }

  #keepAlive(): void {
    const now = Date.now();
    for (const c of this.#clients) {
      if (c.blockedSince === undefined) {
        c.res.write(`: keep-alive ${new Date(now).toISOString()}\n\n`);
      } else if (now - c.blockedSince > this.#stuckMs) {
        // Not read for a minute: the client is gone or hung; it can reconnect.
        this.#clients.delete(c);
        c.res.destroy();
      }
    }
  }
}
