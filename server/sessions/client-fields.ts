/**
 * Bounds what an MCP client sends about itself before it is stored. Whatever is kept here is
 * rewritten into every snapshot and journal line and pushed to every API subscriber and
 * terminal, so it must be small (a client must not bloat them) and printable (raw control
 * characters would reach terminals).
 */
import { isIP } from 'node:net';
import type { ClientInfo } from '../../shared/snapshot.js';

/** Longest `clientInfo.name`, `version` and `title` kept (characters, after controls are removed). */
export const CLIENT_INFO_FIELD_MAX = 256;
/** Longest `User-Agent` kept. */
export const USER_AGENT_MAX = 512;
/** Longest `protocolVersion` kept (real ones are dates such as `2025-06-18`). */
export const PROTOCOL_VERSION_MAX = 64;

// C0 controls, DEL and C1 controls: the bytes that make up terminal escape sequences (ESC, CSI, OSC, BEL).
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * `value` without control characters, cut to at most `max` UTF-16 units (never in the middle
 * of a surrogate pair). Not a string: undefined.
 */
export function boundText(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  // Inputs are small already (the initialize body limit, Node's header limit): scan them whole.
  let s = value.replace(CONTROLS, '');
  if (s.length > max) {
    s = s.slice(0, max);
    const last = s.charCodeAt(max - 1);
    if (last >= 0xd800 && last <= 0xdbff) s = s.slice(0, -1);
  }
  return s;
}

/**
 * {@link boundText} with one `max`, remembering its last input and answer: what is bounded on
 * every request (a client's name, a method, a tool name) is the same string time after time, and
 * the answer for it never changes. Not a string: undefined, as boundText.
 */
export function lastBoundText(max: number): (value: unknown) => string | undefined {
  let input: string | undefined;
  let output: string | undefined;
  return (value) => {
    if (typeof value !== 'string') return undefined;
    if (value !== input) {
      output = boundText(value, max);
      input = value;
    }
    return output;
  };
}

/**
 * The `clientInfo` of an `initialize` as stored: `{name, version, title?}` and nothing else,
 * each bounded by {@link boundText}. A missing or non-string `name`/`version` (both required by
 * the schema) becomes `""`; a missing or non-string `title` is left out. Not an object: null.
 */
export function boundClientInfo(raw: unknown): ClientInfo | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const info: ClientInfo = {
    name: boundText(r.name, CLIENT_INFO_FIELD_MAX) ?? '',
    version: boundText(r.version, CLIENT_INFO_FIELD_MAX) ?? '',
  };
  const title = boundText(r.title, CLIENT_INFO_FIELD_MAX);
  if (title !== undefined) info.title = title;
  return info;
}

/** The `User-Agent` header as stored: bounded by {@link boundText}; absent: null. */
export function boundUserAgent(raw: string | undefined): string | null {
  return boundText(raw, USER_AGENT_MAX) ?? null;
}

/** The protocol version a client asked for, as stored; absent or not a string: null. */
export function boundProtocolVersion(raw: unknown): string | null {
  return boundText(raw, PROTOCOL_VERSION_MAX) ?? null;
}

/**
 * The client address as stored: `::ffff:127.0.0.1` -> `127.0.0.1` (IPv4 clients of a
 * dual-stack socket); anything that is not an IP address (an `X-Forwarded-For` entry is
 * whatever the client or a proxy wrote) -> `unknown`.
 */
export function clientAddress(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const v = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  return isIP(v) === 0 ? 'unknown' : v;
}
