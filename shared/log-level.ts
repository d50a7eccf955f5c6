/** The levels of the logger (shared/io/logger.ts) and `MCP_MONITOR_LOG_LEVEL`, the setting that picks one. */
import { UsageError } from './settings.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The level named by `MCP_MONITOR_LOG_LEVEL` (`raw`), `info` when unset; a bad value is a usage
 * error like any other setting's, never silently `info`.
 */
export function parseLogLevel(raw: string | undefined): LogLevel {
  if (raw === undefined || raw === '') return 'info';
  if ((LOG_LEVELS as readonly string[]).includes(raw)) return raw as LogLevel;
  throw new UsageError(`Invalid MCP_MONITOR_LOG_LEVEL: ${JSON.stringify(raw)} (expected one of ${LOG_LEVELS.join(', ')})`);
}
