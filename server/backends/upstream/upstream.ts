/**
 * The upstream of `--upstream`: any Streamable HTTP MCP server. Forwards one HTTP
 * exchange at a time, streaming both ways with backpressure (pipes: nothing is buffered whole),
 * with hop-by-hop headers dropped, `Host` rewritten and `X-Forwarded-*` set; each reaches the
 * upstream at most once, and gets no answer after the head timeout (504). Credentials in the
 * URL become Basic auth to it and are never shown ({@link shownUrl}). Tracks whether it answers
 * (`state`, published in the snapshot's `backend.upstream`, read by `/api/mcp/health`), from the
 * exchanges it forwards and, when none pass, from a probe every heartbeat ({@link Upstream.watch}).
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TrustProxy } from '../../../shared/settings.js';
import type { UpstreamState } from '../../../shared/snapshot.js';
import { shownUrl } from '../../../shared/upstream-url.js';
import { headersWithout } from './hop-headers.js';
import { CONNECT_TIMEOUT_MS, IDLE_SOCKET_MS, RESPONSE_HEAD_TIMEOUT_MS, UPSTREAM_SPARE_SOCKETS, type UpstreamOptions } from './upstream-options.js';

export { UPSTREAM_SPARE_SOCKETS, type UpstreamOptions } from './upstream-options.js';

/** What one forwarded exchange tells its caller. */
export interface ExchangeHooks {
  /** The upstream answered (before its body is sent on). */
  onResponse?: (status: number, headers: http.IncomingHttpHeaders) => void;
  /** Each chunk of the upstream's body, as it passes. */
  onChunk?: (chunk: Buffer) => void;
  /** The body has ended or was cut. */
  onEnd?: () => void;
}

/** One exchange being forwarded: what goes up, where the answer goes, who hears the end. */
interface Exchange {
  method: string;
  /** Flat: name, value, name, value, … */
  headers: string[];
  body: Buffer | undefined;
  res: http.ServerResponse;
  hooks: ExchangeHooks;
  fail: (status: number, message: string) => void;
  done: () => void;
}

interface UpstreamEvents {
  change: [state: UpstreamState];
  /** A recording hook threw: the exchange goes on unrecorded, the error is the listener's to log. */
  hookError: [err: unknown];
}

/** Request headers the proxy sets itself: the client's own are not passed on. */
const SET_HERE: ReadonlySet<string> = new Set(['accept-encoding', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/** One line on why a request to the upstream failed, without credentials. */
function why(err: NodeJS.ErrnoException): string {
  return (err.code ? `${err.code}: ${err.message}` : err.message).split('\n')[0]!.slice(0, 300);
}

/** The upstream server: forwards exchanges, knows whether it answers. */
export class Upstream extends EventEmitter<UpstreamEvents> {
  readonly #url: URL;
  readonly #agent: http.Agent;
  readonly #auth: string | undefined;
  readonly #connectTimeoutMs: number;
  readonly #headTimeoutMs: number;
  readonly #trustProxy: TrustProxy;
  #state: UpstreamState | null = null;
  /** When an exchange last got an answer (performance.now()). */
  #lastAnswer = -Infinity;
  #probeTimer: NodeJS.Timeout | undefined;
  #watched = false;
  #closing: Promise<void> | undefined;
  /** Probes and DELETEs under way: close() waits for them (the agent's destroy cuts them short). */
  readonly #ownRequests = new Set<Promise<void>>();

  /** `maxSockets`: give the child's own `maxConnections` (every exchange comes on one). */
  constructor(url: string, options: UpstreamOptions = {}) {
    super();
    this.#url = new URL(url);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.#headTimeoutMs = options.responseHeadTimeoutMs ?? RESPONSE_HEAD_TIMEOUT_MS;
    this.#trustProxy = options.trustProxy ?? false;
    const tls = this.#url.protocol === 'https:';
    // `timeout`: a free socket idle this long is destroyed by the agent; one in use only hears a
    // 'timeout' event, which nothing here acts on (a quiet SSE stream is fine).
    const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_MS, maxSockets: options.maxSockets ?? 256 + UPSTREAM_SPARE_SOCKETS };
    this.#agent = tls ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.#auth = this.#url.username || this.#url.password ? `Basic ${Buffer.from(`${decodeURIComponent(this.#url.username)}:${decodeURIComponent(this.#url.password)}`).toString('base64')}` : undefined;
  }

  /** The URL as it may be shown: no user name or password. */
  get shown(): string {
    return shownUrl(this.#url);
  }

  /** Whether it answered the last request (null before the first). */
  get state(): UpstreamState | null {
    return this.#state;
  }

  /** Runs a recording hook: what records an exchange never breaks it (nor the process). */
  #hook(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.emit('hookError', err);
    }
  }

  #saw(reachable: boolean, error: string | null): void {
    // A request cut by close() says nothing about the upstream.
    if (this.#closing) return;
    if (reachable) this.#lastAnswer = performance.now();
    if (this.#state?.reachable === reachable && this.#state.error === error) return;
    this.#state = { reachable, error, since: new Date().toISOString() };
    this.emit('change', this.#state);
  }

  /**
   * Forwards `req` (its `body` read already, or none) and streams the answer to `res`. Resolves
   * when the exchange is over; an upstream that cannot be reached gets the client a 502 with a
   * JSON-RPC error (`fail`), one that breaks mid-answer a cut response.
   */
  forward(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer | undefined, hooks: ExchangeHooks, fail: (status: number, message: string) => void): Promise<void> {
    const headers = headersWithout(req, SET_HERE);
    // The recording reads answers (errors, a session gone), which it cannot do compressed: the
    // upstream is asked for plain bytes; the client still gets the answer, only uncompressed.
    headers.push('host', this.#url.host, 'accept-encoding', 'identity');
    // Behind trusted proxies the chain goes on; else the client's own header is not passed on.
    const forwardedFor = this.#trustProxy === false ? undefined : req.headers['x-forwarded-for'];
    headers.push('x-forwarded-for', [forwardedFor, req.socket.remoteAddress].flat().filter(Boolean).join(', '), 'x-forwarded-proto', 'http');
    if (req.headers.host) headers.push('x-forwarded-host', req.headers.host);
    if (this.#auth && !req.headers.authorization) headers.push('authorization', this.#auth);
    if (body) headers.push('content-length', String(body.length));
    return new Promise<void>((resolve) => this.#attempt({ method: req.method ?? 'GET', headers, body, res, hooks, fail, done: resolve }, false));
  }

  #attempt(x: Exchange, retried: boolean): void {
    const { res, hooks } = x;
    let answered = false;
    let headTimedOut = false;
    const lib = this.#url.protocol === 'https:' ? https : http;
    const up = lib.request({ agent: this.#agent, protocol: this.#url.protocol, hostname: this.#url.hostname, port: this.#url.port, method: x.method, path: `${this.#url.pathname}${this.#url.search}`, headers: x.headers });
    // From now until the head: waiting for a socket, connecting, sending, the upstream working.
    const headTimer = setTimeout(() => {
      headTimedOut = true;
      up.destroy(Object.assign(new Error(`no response within ${this.#headTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, this.#headTimeoutMs);
    up.once('close', () => clearTimeout(headTimer));
    // What the socket had sent before this request: more at an error means part of it went out.
    let sentBefore: number | undefined;
    let socket: net.Socket | undefined;
    up.on('socket', (s) => {
      socket = s;
      sentBefore = s.bytesWritten;
      if (up.reusedSocket || !s.connecting) return;
      // A new connection: TCP, and for https the TLS handshake, within the connect timeout.
      const ready = this.#url.protocol === 'https:' ? 'secureConnect' : 'connect';
      const t = setTimeout(() => up.destroy(Object.assign(new Error(`no connection within ${this.#connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), this.#connectTimeoutMs);
      s.once(ready, () => clearTimeout(t));
      s.once('close', () => clearTimeout(t));
    });
    up.on('response', (ures) => {
      answered = true;
      clearTimeout(headTimer);
      this.#saw(true, null);
      this.#hook(() => hooks.onResponse?.(ures.statusCode ?? 502, ures.headers));
      if (!res.writableEnded && !res.destroyed) res.writeHead(ures.statusCode ?? 502, headersWithout(ures));
      // The head goes out with the first chunk (one write, as the upstream sent them), or on
      // its own right after, for a stream with nothing to say yet.
      setImmediate(() => {
        if (!res.headersSent && !res.destroyed) res.flushHeaders();
      });
      ures.on('data', (chunk: Buffer) => this.#hook(() => hooks.onChunk?.(chunk)));
      ures.pipe(res);
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        this.#hook(() => hooks.onEnd?.());
        x.done();
      };
      ures.once('end', end);
      ures.once('close', end);
      ures.once('error', () => res.destroy());
    });
    // The client went away: so does the exchange upstream.
    const clientGone = () => {
      if (!res.writableFinished) up.destroy();
    };
    res.once('close', clientGone);
    up.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(headTimer);
      if (answered) {
        // Broke mid-answer: the client sees its stream cut, as it would from the upstream.
        res.destroy();
        return x.done();
      }
      // The client going away destroys `up` too: not the upstream's fault.
      if (res.destroyed || res.writableEnded) return x.done();
      // A kept-alive connection the upstream closed while idle (it restarted, or timed it out)
      // fails as it is reused: once more, on a fresh connection, but only when the upstream cannot
      // have acted on it (a request reaches the upstream at most once): a GET or DELETE, or a
      // request none of whose bytes went out. A POST that did may have run (a tools/call): the
      // client decides.
      const unsent = socket !== undefined && sentBefore !== undefined && socket.bytesWritten === sentBefore;
      const idempotent = x.method === 'GET' || x.method === 'DELETE';
      if (!retried && up.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE') && (idempotent || unsent)) {
        res.off('close', clientGone);
        return this.#attempt(x, true);
      }
      this.#saw(false, why(err));
      // The client learns only that it failed: the upstream's address is the operator's to see
      // (the log, /api/mcp/health), not every client's.
      if (headTimedOut) x.fail(504, 'Upstream MCP server did not answer in time');
      else x.fail(502, 'Upstream MCP server unreachable');
      x.done();
    });
    up.end(x.body);
  }

  /** Runs one request of our own (probe, DELETE) unless closed, for close() to wait for. */
  #own(send: () => Promise<void>): Promise<void> {
    if (this.#closing) return Promise.resolve();
    const p = send().finally(() => this.#ownRequests.delete(p));
    this.#ownRequests.add(p);
    return p;
  }

  /** Ends a session upstream (DELETE with its id); errors are the upstream's to have. Nothing after close(). */
  endSession(sessionId: string, protocolVersion: string | null): Promise<void> {
    return this.#own(() => this.#delete(sessionId, protocolVersion));
  }

  async #delete(sessionId: string, protocolVersion: string | null): Promise<void> {
    const lib = this.#url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { 'mcp-session-id': sessionId };
    if (protocolVersion) headers['mcp-protocol-version'] = protocolVersion;
    if (this.#auth) headers.authorization = this.#auth;
    await new Promise<void>((resolve) => {
      const r = lib.request({ agent: this.#agent, protocol: this.#url.protocol, hostname: this.#url.hostname, port: this.#url.port, method: 'DELETE', path: `${this.#url.pathname}${this.#url.search}`, headers, timeout: this.#connectTimeoutMs }, (res) => {
        res.resume();
        res.once('end', resolve);
        res.once('error', () => resolve());
      });
      // Unreachable, refused, timed out: the session is over for us either way.
      r.on('error', () => resolve());
      r.on('timeout', () => r.destroy());
      r.end();
    });
  }

  /**
   * Keeps `state` true when no client is talking: now, and every `everyMs` in which no exchange
   * was answered, an `OPTIONS` to the endpoint (any HTTP answer, even 404 or 405, means it
   * answers; it opens no session and has no body). Its start: throws when called twice; does
   * nothing after close().
   */
  watch(everyMs: number): void {
    if (this.#watched) throw new Error('Upstream already watched');
    this.#watched = true;
    if (this.#closing) return;
    void this.probe();
    this.#probeTimer = setInterval(() => {
      if (performance.now() - this.#lastAnswer >= everyMs) void this.probe();
    }, everyMs).unref();
  }

  /** One `OPTIONS` request: the state it gives. Nothing after close(). */
  probe(): Promise<void> {
    return this.#own(() => this.#options());
  }

  #options(): Promise<void> {
    const lib = this.#url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = {};
    if (this.#auth) headers.authorization = this.#auth;
    return new Promise<void>((resolve) => {
      const r = lib.request({ agent: this.#agent, protocol: this.#url.protocol, hostname: this.#url.hostname, port: this.#url.port, method: 'OPTIONS', path: `${this.#url.pathname}${this.#url.search}`, headers, timeout: this.#connectTimeoutMs }, (res) => {
        this.#saw(true, null);
        res.resume();
        res.once('end', resolve);
        res.once('error', () => resolve());
      });
      r.on('error', (err: NodeJS.ErrnoException) => {
        this.#saw(false, why(err));
        resolve();
      });
      r.on('timeout', () => r.destroy(Object.assign(new Error(`no answer within ${this.#connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
      r.end();
    });
  }

  /**
   * Stops the probes and destroys every socket to the upstream (call it once no exchange is
   * forwarded any more); resolves when the probes and DELETEs under way have ended. The same
   * promise every time.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#probeTimer);
      this.#agent.destroy();
      await Promise.all(this.#ownRequests);
    })();
    return this.#closing;
  }
}
