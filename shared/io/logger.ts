/**
 * The one pino logger of a process, made by its main.ts: JSON lines on stderr (stdout is for
 * data). Its levels, and the setting that picks one, are shared/log-level.ts.
 */
import pino, { type Logger } from 'pino';
import { LOG_LEVELS } from '../log-level.js';

/** Bytes of log lines an asynchronous logger holds while stderr does not drain; past it lines are dropped. */
export const ASYNC_LOG_BUFFER_BYTES = 1024 * 1024;

export interface LoggerOptions {
  /**
   * Write asynchronously with a bounded buffer (`ASYNC_LOG_BUFFER_BYTES`), dropping lines rather
   * than ever waiting for stderr: for a process whose stderr is a pipe that its reader may stop
   * draining (the MCP child under the API). What is buffered is flushed at exit when stderr
   * takes it. Default false: synchronous, nothing lost, a full pipe blocks.
   */
  async?: boolean;
}


/**
 * @param name component of the process (`api`, `server`)
 * @param level pino level; default `info`
 */
export function createLogger(name: string, level = 'info', options: LoggerOptions = {}): Logger {
  const destination = options.async
    ? pino.destination({
        fd: 2,
        sync: false,
        // Never hold a line back when stderr drains; never grow past this when it does not.
        minLength: 0,
        maxLength: ASYNC_LOG_BUFFER_BYTES,
        // sonic-boom's default retries EAGAIN by sleeping: that would stall the event loop.
        retryEAGAIN: () => false,
      })
    : pino.destination({ fd: 2, sync: true });
  // Every stderr error drops lines and nothing else: EPIPE (whoever read our stderr is gone, a
  // killed parent), EAGAIN (the pipe is full; async only), or worse. A logger has nowhere to report
  // its own failure, and logging must never take the process down.
  destination.on('error', () => undefined);
  return pino(
    { name: `mcp-monitor:${name}`, level: (LOG_LEVELS as readonly string[]).includes(level) ? level : 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    destination,
  );
}
