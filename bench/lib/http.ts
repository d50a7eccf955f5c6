/**
 * Lean HTTP for the bench (node:http with keep-alive, no fetch overhead): status-only GETs for
 * tight polling, bare MCP sessions (initialize, DELETE) for the scale and churn runs, and an
 * SSE reader that timestamps every frame as it arrives.
 */
import http from 'node:http';
import { nowMs } from './clock.js';

export const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await request(url);
  if (r.status !== 200) throw new Error(`bench: GET ${url}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body) as T;
}

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
let nextId = 1;

/** Opens a bare MCP session with one `initialize` POST (no GET stream); returns its id. */
export async function rawInitialize(mcpUrl: string, name = 'bench-raw'): Promise<string> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: nextId++,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name, version: '0.0.1' } },
  });
  const r = await request(mcpUrl, { method: 'POST', headers: MCP_HEADERS, body });
  const sid = r.headers['mcp-session-id'];
  if (r.status !== 200 || typeof sid !== 'string') throw new Error(`bench: initialize: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return sid;
}

/** Ends a session with DELETE. */
export async function rawDelete(mcpUrl: string, sid: string): Promise<void> {
  const r = await request(mcpUrl, { method: 'DELETE', headers: { ...MCP_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
  if (r.status !== 200) throw new Error(`bench: DELETE: HTTP ${r.status} ${r.body.slice(0, 200)}`);
}

export interface SseFrame {
  /** When the frame was complete in this process (nowMs). */
  at: number;
  data: string;
}

/**
 * An open `GET /api/mcp/events` stream. Keeps the frames of the last `keepMs` so that a change
 * that arrived before the bench knew what to look for (a session id) is still found.
 */
export class SseStream {
  readonly frames: SseFrame[] = [];
  readonly #keepMs: number;
  readonly #listeners = new Set<(f: SseFrame) => void>();
  #req: http.ClientRequest | undefined;

  constructor(keepMs = 3000) {
    this.#keepMs = keepMs;
  }

  open(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      // Its own socket: a stream must not sit in the keep-alive pool of the polling requests.
      const req = http.get(url, { headers: { accept: 'text/event-stream' }, agent: false }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`bench: SSE: HTTP ${res.statusCode}`));
        res.setEncoding('utf8');
        let buf = '';
        let scanFrom = 0;
        res.on('data', (d: string) => {
          buf += d;
          let end: number;
          // Scan only what is new: frames of 10,000 sessions are megabytes long.
          while ((end = buf.indexOf('\n\n', scanFrom)) >= 0) {
            const raw = buf.slice(0, end);
            buf = buf.slice(end + 2);
            scanFrom = 0;
            const at = nowMs();
            const line = raw.split('\n').find((l) => l.startsWith('data: '));
            if (line) this.#push({ at, data: line.slice(6) });
          }
          scanFrom = Math.max(0, buf.length - 1);
        });
        resolve();
      });
      req.on('error', reject);
      this.#req = req;
    });
  }

  #push(f: SseFrame): void {
    this.frames.push(f);
    while (this.frames.length > 0 && f.at - this.frames[0]!.at > this.#keepMs) this.frames.shift();
    for (const l of this.#listeners) l(f);
  }

  /** When the first frame (kept or coming) that satisfies `pred` arrived. */
  when(pred: (data: string) => boolean, timeoutMs: number, since = 0): Promise<number> {
    const kept = this.frames.find((f) => f.at >= since && pred(f.data));
    if (kept) return Promise.resolve(kept.at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(l);
        reject(new Error(`bench: no SSE frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const l = (f: SseFrame) => {
        if (!pred(f.data)) return;
        clearTimeout(timer);
        this.#listeners.delete(l);
        resolve(f.at);
      };
      this.#listeners.add(l);
    });
  }

  /** Calls `fn` on every frame from now on; returns a function that stops it. */
  onFrame(fn: (f: SseFrame) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  close(): void {
    this.#req?.destroy();
  }
}
