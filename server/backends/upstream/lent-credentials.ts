/**
 * The proxy of `--upstream` adds the URL's credentials to every client request that
 * has no `Authorization` of its own, so whoever reaches the child uses them. On a loopback
 * address that is this machine's users; on any other, everyone on the network.
 */
import { isLoopbackHost } from '../../../shared/host-check.js';

/** True when `upstream` carries a user name or password and `mcpHost` is reachable from other machines. */
export function lendsCredentials(upstream: string, mcpHost: string): boolean {
  let url: URL;
  try {
    url = new URL(upstream);
  } catch {
    // The settings parser refused a bad URL already; nothing is lent by one that does not parse.
    return false;
  }
  return (url.username !== '' || url.password !== '') && !isLoopbackHost(mcpHost);
}
