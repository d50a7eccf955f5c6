/**
 * `--upstream`: the URL of a Streamable HTTP MCP endpoint. Only http and https; credentials in
 * it (`https://user:secret@host/mcp`) are sent to the upstream and never shown: the snapshot,
 * the logs and `/api/mcp/health` get {@link shownUrl}.
 */

/** Why a URL is not a usable upstream, for the one-line usage error. */
export class UpstreamUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamUrlError';
  }
}

/** Parses and checks `raw`; throws {@link UpstreamUrlError}. */
export function parseUpstreamUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UpstreamUrlError('an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UpstreamUrlError(`an http:// or https:// URL, not ${url.protocol}`);
  if (url.hash !== '') throw new UpstreamUrlError('a URL without a #fragment');
  return url;
}

/** `url` without user name and password: what may be shown anywhere. */
export function shownUrl(url: URL | string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.href;
}
