/**
 * Protocol eras of connections (see `ERAS` in snapshot.ts) as every view counts them. A
 * connection or journal line without `era` was written before eras were recorded, when every
 * connection was a session: legacy.
 */
import type { Connection, Era } from './snapshot.js';

/** The era of a connection or journal line: `modern` only when it says so. */
export function eraOf(era: unknown): Era {
  return era === 'modern' ? 'modern' : 'legacy';
}

/** Connections of each era. */
export function countByEra(connections: readonly Pick<Connection, 'era'>[]): Record<Era, number> {
  const n: Record<Era, number> = { legacy: 0, modern: 0 };
  for (const c of connections) n[eraOf(c.era)] += 1;
  return n;
}
