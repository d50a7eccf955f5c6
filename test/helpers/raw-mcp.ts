/**
 * A bare Streamable HTTP client made of fetch calls: a session with no GET stream, for tests that
 * need exact control over which requests are open (the SDK client keeps a GET stream open).
 */
import http from 'node:http';

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
let nextId = 1;

export const INITIALIZE = (name = 'raw-client') => ({
  jsonrpc: '2.0',
  id: nextId++,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name, version: '0.0.1' } },
});

/** The JSON-RPC message of a response that may be JSON or an SSE stream. */
async function message(res: Response): Promise<any> {
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const data = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
    return data.at(-1);
  }
  return text ? JSON.parse(text) : undefined;
}

/** Initializes a session (and sends `notifications/initialized`); returns its id. */
export async function rawSession(url: string, name?: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(url, { method: 'POST', headers: { ...HEADERS, ...headers }, body: JSON.stringify(INITIALIZE(name)) });
  if (res.status !== 200) throw new Error(`initialize: HTTP ${res.status}`);
  const sid = res.headers.get('mcp-session-id')!;
  await message(res);
  const n = await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await n.text();
  return sid;
}

/** One JSON-RPC request in a session: its HTTP status and message. */
export async function rawCall(url: string, sid: string, method: string, params: unknown = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
  });
  return { status: res.status, body: await message(res) };
}

/** A POST with an arbitrary Host header (fetch will not send one). */
export function postWithHost(url: string, host: string, body: unknown): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...HEADERS, host } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
