/** The one pino logger of a process, made by its main.ts: JSON lines on stderr (stdout is for data). */
import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * @param name component of the process (`api`, `server`)
 * @param level pino level; default `info`
 */
export function createLogger(name: string, level = 'info'): Logger {
  const destination = pino.destination({ fd: 2, sync: true });
  // EPIPE: whoever read our stderr is gone (a killed parent); logging must not take us down.
  destination.on('error', () => undefined);
  return pino(
    { name: `mcp-monitor:${name}`, level: (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    destination,
  );
}
