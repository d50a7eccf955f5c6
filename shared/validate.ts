/**
 * Validation primitives shared by the readers of the state files (snapshot, journal). Pure.
 */

/** ISO-8601 UTC as `Date#toISOString` writes it (milliseconds optional for hand-made files). */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** A plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-negative safe integer. */
export function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** An ISO-8601 UTC time that is also a real date (no month 13). */
export function isIsoTime(v: unknown): v is string {
  return typeof v === 'string' && ISO_UTC.test(v) && !Number.isNaN(Date.parse(v));
}
