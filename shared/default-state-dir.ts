/**
 * The state directory when neither `--state-dir` nor `MCP_MONITOR_STATE_DIR` names one: `./state`
 * when it holds the marker file (a checkout commits `state/.mcp-monitor`, so `npm start` in a
 * clone keeps its top-level `state/`), else the per-user directory of user-state-dir.ts.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { STATE_DIR_MARKER, userStateDir } from './user-state-dir.js';

/** True when `<cwd>/state/.mcp-monitor` is a file (through links: the user may link `state`). */
function markedCheckoutState(cwd: string): boolean {
  try {
    return statSync(path.join(cwd, 'state', STATE_DIR_MARKER)).isFile();
  } catch {
    return false;
  }
}

/** The default state directory, absolute, seen from `cwd`. */
export function defaultStateDir(cwd: string, env: NodeJS.ProcessEnv): string {
  return markedCheckoutState(cwd) ? path.resolve(cwd, 'state') : userStateDir(env);
}

/** How help shows the default: the rule, then which directory it gives here. */
export function shownDefaultStateDir(cwd: string, env: NodeJS.ProcessEnv): string {
  const user = env.XDG_STATE_HOME !== undefined && path.isAbsolute(env.XDG_STATE_HOME) ? '$XDG_STATE_HOME/mcp-monitor' : '~/.local/state/mcp-monitor';
  return `./state if it holds ${STATE_DIR_MARKER}, else ${user}; here ${defaultStateDir(cwd, env)}`;
}
