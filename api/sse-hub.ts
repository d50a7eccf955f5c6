/**
 * Server-Sent Events for `GET /api/mcp/events`: `event: snapshot`, `id: <serverId>:<pid>:<seq>`,
 * `data: <snapshot JSON>` at connect and on every new snapshot; a comment line keeps idle
 * connections open through proxies. A client that stops reading is dropped, not buffered for:
 * it reconnects and gets the current state.
 */
import type { Request, Response } from 'express';
import type { Snapshot } from '../shared/snapshot.js';

export interface SseHubOptions {
  /** Comment line interval. Default 15000. */
  keepAliveMs?: number;
  /** A client with more than this many bytes unsent is dropped. Default 4 MiB. */
  maxBufferedBytes?: number;
}

interface Client {
  res: Response;
  serverId: string | undefined;
}

/** The SSE frame of one snapshot. */
export function snapshotEvent(snapshot: Snapshot, json: string = JSON.stringify(snapshot)): string {
  return `event: snapshot\nid: ${snapshot.serverId}:${snapshot.pid}:${snapshot.seq}\ndata: ${json}\n\n`;
}

export class SseHub {
  readonly #clients = new Set<Client>();
  readonly #keepAliveMs: number;
  readonly #maxBuffered: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: SseHubOptions = {}) {
    this.#keepAliveMs = options.keepAliveMs ?? 15_000;
    this.#maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Takes over a request: sends headers and the current snapshots (already filtered by the caller). */
  add(req: Request, res: Response, serverId: string | undefined, initial: Snapshot[]): void {
    if (this.#closed) {
      res.status(503).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    const client: Client = { res, serverId };
    this.#clients.add(client);
    req.socket.setNoDelay(true);
    res.write(`retry: 2000\n\n`);
    for (const s of initial) this.#send(client, snapshotEvent(s));
    res.on('close', () => this.#clients.delete(client));
    this.#timer ??= setInterval(() => this.#keepAlive(), this.#keepAliveMs).unref();
  }

  broadcast(snapshot: Snapshot): void {
    let frame: string | undefined;
    for (const c of this.#clients) {
      if (c.serverId !== undefined && c.serverId !== snapshot.serverId) continue;
      frame ??= snapshotEvent(snapshot);
      this.#send(c, frame);
    }
  }

  /** Ends every stream (at shutdown). */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }

  #send(c: Client, frame: string): void {
    if (c.res.writableLength > this.#maxBuffered) {
      this.#clients.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(frame);
  }

  #keepAlive(): void {
    for (const c of this.#clients) this.#send(c, `: keep-alive ${new Date().toISOString()}\n\n`);
  }
}
