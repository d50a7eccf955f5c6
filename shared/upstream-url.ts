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
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new UpstreamUrlError('a URL whose user name and password are valid percent-encoding');
  }
  return url;
}

/**
 * `url` as it may be shown anywhere: scheme, host, port and path. No user name or password, and
 * no query either, since servers take keys there too (`?api_key=…`).
 */
export function shownUrl(url: URL | string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}
