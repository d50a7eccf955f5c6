/**
 * Headers of one hop (RFC 9110, https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1): what the
 * proxy of `--upstream` never forwards either way, and the `Connection` header that could make it
 * drop an end-to-end one (then the upstream would not see what the monitor read).
 */
import type http from 'node:http';

/** Headers of one hop only, never forwarded (`host` and `content-length` are set anew). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);

/** The header names a `Connection` header lists, lower-case. */
function connectionListed(h: http.IncomingHttpHeaders | http.OutgoingHttpHeaders): string[] {
  const v = h.connection;
  return (Array.isArray(v) ? v.join(',') : String(v ?? '')).toLowerCase().split(',').map((s) => s.trim()).filter(Boolean);
}

/** `h` without hop-by-hop headers, nor those its `Connection` header names. */
export function headersWithout(h: http.IncomingHttpHeaders | http.OutgoingHttpHeaders): Record<string, string | string[]> {
  const listed = connectionListed(h);
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k) || listed.includes(k)) continue;
    out[k] = typeof v === 'number' ? String(v) : v;
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
