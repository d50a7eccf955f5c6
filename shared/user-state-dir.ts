/**
 * The per-user state directory: `$XDG_STATE_HOME/mcp-monitor`, or `~/.local/state/mcp-monitor`
 * when `XDG_STATE_HOME` is unset (a relative one is ignored, as the XDG Base Directory
 * Specification asks: https://specifications.freedesktop.org/basedir-spec/latest/). Where
 * `wrap` always publishes unless told otherwise, and every other command outside a checkout.
 */
import os from 'node:os';
import path from 'node:path';

/** The marker file that says a directory is an mcp-monitor state directory (a checkout commits `state/.mcp-monitor`). */
export const STATE_DIR_MARKER = '.mcp-monitor';

export function userStateDir(env: NodeJS.ProcessEnv, home: string = os.homedir()): string {
  const xdg = env.XDG_STATE_HOME;
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'state');
  return path.join(base, 'mcp-monitor');
}
