/**
 * Which `Host` header names a server accepts (DNS-rebinding protection).
 * One rule for the API and the MCP endpoint: a page that rebinds its own name to 127.0.0.1 still
 * sends that name in `Host`, so only names we expect pass.
 */
import { isIP } from 'node:net';

/** Names that can only reach a loopback listener: always safe to accept. */
export const LOOPBACK_HOST_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

/** True for an address or name that only this machine reaches (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** True when `host` is a wildcard bind address (every interface). */
export function isAnyAddress(host: string): boolean {
  return ANY_ADDRESS.has(host);
}

/** `fd00::5` -> `[fd00::5]`: the form an IPv6 address takes in a URL and in `Host`. */
export function urlHostName(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * The host names (lower-case, IPv6 in brackets, no port) that a server bound to `bindHost`
 * accepts: the loopback names, the bind address itself, and `extra` (`--allowed-hosts`).
 * `null` means no check: bound to every interface with no `--allowed-hosts` (the caller warns).
 */
export function allowedHostNames(bindHost: string, extra: readonly string[] = []): Set<string> | null {
  if (isAnyAddress(bindHost) && extra.length === 0) return null;
  const names = new Set([...LOOPBACK_HOST_NAMES, ...extra.map((h) => urlHostName(h).toLowerCase())]);
  if (!isAnyAddress(bindHost)) names.add(urlHostName(bindHost).toLowerCase());
  return names;
}

/** The host name of a `Host` header, without its port, lower-case; undefined when absent or malformed. */
export function hostNameOf(header: string | undefined): string | undefined {
  if (!header || /[\s/@?#\\]/.test(header)) return undefined;
  try {
    const { hostname } = new URL(`http://${header}`);
    return hostname === '' ? undefined : hostname.toLowerCase();
  } catch {
    // TypeError ERR_INVALID_URL: not a host[:port] at all.
    return undefined;
  }
}

/** True when the `Host` header names one of `allowed` (`null`: everything is allowed). */
export function isHostAllowed(header: string | undefined, allowed: ReadonlySet<string> | null): boolean {
  if (allowed === null) return true;
  const name = hostNameOf(header);
  return name !== undefined && allowed.has(name);
}
