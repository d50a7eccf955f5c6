/**
 * Headers of one hop (RFC 9110, https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1): what the
 * proxy of `--upstream` never forwards either way, and the `Connection` header that could make it
 * drop an end-to-end one (then the upstream would not see what the monitor read).
 */
import type http from 'node:http';

/** Headers of one hop only, never forwarded (`host` and `content-length` are set anew). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);

/** The header names a `Connection` header lists, lower-case. */
function connectionListed(h: http.IncomingHttpHeaders): string[] {
  const v = h.connection;
  if (v === undefined) return [];
  return (Array.isArray(v) ? v.join(',') : v).toLowerCase().split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * The headers of message `m` to pass on, as the flat list (name, value, name, value, …) that
 * `http.request` and `writeHead` take as they are: each line as it came (`rawHeaders`), without
 * hop-by-hop headers, those its `Connection` header names, nor `replaced` (lower-case names the
 * proxy sets itself). A list rather than an object: no object of the headers is built on the
 * way out, nor each header set one by one.
 */
export function headersWithout(m: http.IncomingMessage, replaced?: ReadonlySet<string>): string[] {
  const listed = connectionListed(m.headers);
  const raw = m.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(k) || replaced?.has(k) || (listed.length > 0 && listed.includes(k))) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/**
 * The first header a client's `Connection` names that the monitor reads and the upstream must
 * see too (`Mcp-*`, `Content-Type`, `Authorization`, `Accept`), else undefined. Dropped, it
 * would make the two disagree: a request counted on a victim's session that the upstream sees
 * without one (and answers "session required", which ends that session here).
 */
export function endToEndListed(h: http.IncomingHttpHeaders): string | undefined {
  return connectionListed(h).find((k) => k.startsWith('mcp-') || k === 'content-type' || k === 'authorization' || k === 'accept');
}
