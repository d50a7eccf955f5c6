/**
 * Which session ids from the network the proxy lists as legacy sessions.
 *
 * The MCP specification allows only visible ASCII (0x21-0x7E) in a session id
 * (https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#session-management).
 * Ids beginning `m-` are the names of modern (sessionless) clients in the same table
 * (server/sessions/modern-clients.ts), so no upstream or client can give a legacy session one of them.
 */
const VISIBLE_ASCII = /^[\x21-\x7E]{1,256}$/;

/** True when `sid` may be listed as a proxied legacy session. */
export function listableSessionId(sid: string): boolean {
  return VISIBLE_ASCII.test(sid) && !sid.startsWith('m-');
}
