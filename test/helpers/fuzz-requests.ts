/**
 * Random and mutated HTTP requests for the fuzz test: a seeded generator (the same seed gives the
 * same requests) and a sender on node:http, which sends any header and any bytes (fetch refuses
 * Connection, Transfer-Encoding and bodies that are not valid text).
 */
import http from 'node:http';

/** mulberry32: small, seedable, good enough to pick inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzRequest {
  method: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent in several chunks (Transfer-Encoding: chunked) rather than with a Content-Length. */
  chunked: boolean;
  /** What it is, for the report of a failing input. */
  label: string;
}

/** Session ids a request may carry: real ones of the child, listed modern ids, and hostile ones. */
export interface SessionPool {
  valid: string[];
  modern: string[];
}

/** A body of 20 000 nested arrays: valid JSON deep enough to overflow a recursive validator. */
export const DEEP_BODY = Buffer.from('['.repeat(20_000) + ']'.repeat(20_000));

const METHODS = ['initialize', 'tools/list', 'tools/call', 'ping', 'resources/list', 'prompts/list', 'notifications/initialized', 'notifications/cancelled', 'completion/complete', 'logging/setLevel', 'x/unknown', ''];
const VERSIONS = ['2025-06-18', '2025-03-26', '2024-11-05', '2026-07-28', 'bogus', '', 'x'.repeat(10_000), '2025-06-18, 2025-03-26'];

export class FuzzGenerator {
  readonly #r: () => number;
  readonly #pool: SessionPool;

  constructor(seed: number, pool: SessionPool) {
    this.#r = rng(seed);
    this.#pool = pool;
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.#r() * xs.length)]!;
  }

  #chance(p: number): boolean {
    return this.#r() < p;
  }

  #hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(this.#r() * 16)];
    return s;
  }

  #id(): unknown {
    return this.#pick([() => 1, () => 0, () => -1, () => 1.5, () => 2 ** 60, () => 'a', () => '', () => null, () => true, () => [], () => ({ a: 1 }), () => 'x'.repeat(5000), () => this.#r()])();
  }

  #message(): unknown {
    const method = this.#pick(METHODS);
    const m: Record<string, unknown> = { jsonrpc: this.#pick(['2.0', '2.0', '2.0', '1.0', 2, undefined]), method };
    if (!method.startsWith('notifications/') || this.#chance(0.2)) m.id = this.#id();
    if (method === 'initialize') m.params = { protocolVersion: this.#pick(VERSIONS), capabilities: this.#pick([{}, null, 'x']), clientInfo: this.#pick([{ name: 'fuzz', version: '1' }, { name: 'ü\u0000🎉'.repeat(50), version: 7 }, null, undefined]) };
    else if (method === 'tools/call') m.params = { name: this.#pick(['echo', 'add', 'get-sum', 'read_graph', 'nope', '', 'x'.repeat(3000)]), arguments: this.#pick([{ message: 'hi' }, { a: 1, b: 2 }, null, [], 'x']) };
    else if (this.#chance(0.7)) m.params = this.#pick([{}, null, [], 'str', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'fuzz-modern', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} } }]);
    if (this.#chance(0.1)) m.result = {};
    if (this.#chance(0.05)) m.error = { code: -1, message: 'x' };
    return m;
  }

  #body(): { bytes: Buffer; what: string } {
    const kind = this.#pick(['message', 'message', 'message', 'batch', 'mutated', 'garbage', 'invalid-utf8', 'empty', 'huge', 'utf16']);
    switch (kind) {
      case 'message':
        return { bytes: Buffer.from(JSON.stringify(this.#message())), what: kind };
      case 'batch':
        return { bytes: Buffer.from(JSON.stringify(Array.from({ length: this.#pick([0, 1, 3, 50]) }, () => this.#message()))), what: kind };
      case 'mutated': {
        const b = Buffer.from(JSON.stringify(this.#message()));
        for (let i = 0; i < 1 + Math.floor(this.#r() * 4); i++) b[Math.floor(this.#r() * b.length)] = Math.floor(this.#r() * 256);
        return { bytes: b, what: kind };
      }
      case 'garbage':
        return { bytes: Buffer.from(Array.from({ length: Math.floor(this.#r() * 2000) }, () => Math.floor(this.#r() * 256))), what: kind };
      case 'invalid-utf8':
        return { bytes: Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]), Buffer.from('"}}')]), what: kind };
      case 'empty':
        return { bytes: Buffer.alloc(0), what: kind };
      case 'huge':
        return { bytes: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(this.#pick([100_000, 1_500_000, 5_000_000])) } })), what: kind };
      default:
        return { bytes: Buffer.from(JSON.stringify(this.#message()), 'utf16le'), what: kind };
    }
  }

  #sessionId(): string | undefined {
    const { valid, modern } = this.#pool;
    return this.#pick([
      () => undefined,
      () => (valid.length ? this.#pick(valid) : undefined),
      () => (valid.length ? this.#pick(valid) : undefined),
      () => (modern.length ? this.#pick(modern) : `m-${this.#hex(16)}`),
      () => `m-${this.#hex(16)}`,
      () => crypto.randomUUID(),
      () => 'sessión-ü',
      () => 'x'.repeat(this.#pick([257, 8000])),
      () => '',
    ])();
  }

  /** The next request. */
  next(): FuzzRequest {
    const method = this.#pick(['POST', 'POST', 'POST', 'POST', 'GET', 'DELETE', 'PUT', 'OPTIONS']);
    const headers: Record<string, string> = {};
    const labels: string[] = [method];
    const ct = this.#pick(['application/json', 'application/json', 'application/json; charset=utf-16', 'text/plain', 'application/json; charset=latin1', '']);
    if (ct) headers['content-type'] = ct;
    headers.accept = this.#pick(['application/json, text/event-stream', 'application/json, text/event-stream', 'application/json', 'text/event-stream', '*/*', '']);
    const sid = this.#sessionId();
    if (sid !== undefined) {
      headers['mcp-session-id'] = sid;
      labels.push(`sid=${sid.slice(0, 24)}${sid.length > 24 ? `…(${sid.length})` : ''}`);
    }
    if (this.#chance(0.6)) headers['mcp-protocol-version'] = this.#pick(VERSIONS);
    if (this.#chance(0.3)) headers['mcp-method'] = this.#pick(METHODS);
    if (this.#chance(0.2)) headers.connection = this.#pick(['close', 'keep-alive', 'upgrade']);
    if (this.#chance(0.15)) headers['content-encoding'] = this.#pick(['gzip', 'deflate', 'br', 'identity', 'bogus']);
    if (this.#chance(0.2)) headers['user-agent'] = this.#pick(['fuzz/1', 'ü-agent', 'x'.repeat(4000)]);
    const chunked = method === 'POST' && this.#chance(0.2);
    let body: Buffer | undefined;
    if (method === 'POST' || this.#chance(0.1)) {
      const b = this.#body();
      body = b.bytes;
      labels.push(b.what, `${b.bytes.length}B`);
    }
    if (chunked) labels.push('chunked');
    for (const h of ['mcp-protocol-version', 'mcp-method', 'connection', 'content-encoding'] as const) if (headers[h] !== undefined) labels.push(`${h}=${headers[h]!.slice(0, 20)}`);
    return { method, headers, body, chunked, label: labels.join(' ') };
  }
}

/** The response status of one request, or 0 when the connection failed or stayed silent for `timeoutMs`. */
export function send(url: string, req: FuzzRequest, timeoutMs = 5000): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.body && !req.chunked) headers['content-length'] = req.body.length;
    let done = false;
    const finish = (status: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      r.destroy();
      resolve(status);
    };
    const r = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: req.method, headers, agent: false }, (res) => {
      // An SSE answer may stay open: the status is what counts.
      finish(res.statusCode!);
    });
    const timer = setTimeout(() => finish(-1), timeoutMs);
    r.on('error', () => finish(0));
    if (req.body && req.chunked) {
      const mid = Math.floor(req.body.length / 2);
      r.write(req.body.subarray(0, mid));
      r.end(req.body.subarray(mid));
    } else r.end(req.body);
  });
}
