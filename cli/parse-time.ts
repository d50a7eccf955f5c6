/** `--at TIME`: an ISO-8601 time, milliseconds since the epoch, or a time ago (`90s`, `5m ago`, `-2h`). */
import { UsageError } from '../shared/settings.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const AGO = /^-?(\d+(?:\.\d+)?)(ms|s|m|h|d)(?:\s+ago)?$/;

/** Milliseconds since the epoch; throws {@link UsageError} naming `flag` and the value. */
export function parseTime(raw: string, flag: string, now: number = Date.now()): number {
  const text = raw.trim();
  const ago = AGO.exec(text);
  if (ago) return now - Number(ago[1]) * UNITS[ago[2]!]!;
  if (/^\d{10,}$/.test(text)) return Number(text);
  // A date at least: Date.parse also takes "1" or "March", which nobody means here.
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return t;
  }
  throw new UsageError(`Invalid ${flag}: ${JSON.stringify(raw)} (expected an ISO-8601 time like 2026-11-24T10:00:00Z, ms since the epoch, or a time ago like 5m)`);
}
