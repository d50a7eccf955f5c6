/**
 * `mcp-monitor start`: the API (api/run-api.ts) with the MCP children it spawns and supervises
 * (one, or the servers of `--config`).
 */
import { parseLogLevel } from '../shared/log-level.js';
import { ensureStateDir, stateDirLabel } from '../shared/io/state-dir.js';
import { UsageError, settingsHelp } from '../shared/settings.js';
import { runApi } from './run-api.js';
import { START_SETTINGS, resolveStartSettings, type StartSettings } from './start-settings.js';

export { childArgs } from './fleet.js';
export { START_SETTINGS } from './start-settings.js';

function fail(message: string, code: number): void {
  process.stderr.write(`mcp-monitor start: ${message}\n`);
  process.exitCode = code;
}

/** `mcp-monitor start` with `argv` (flags after the command). */
export async function main(argv: string[]): Promise<void> {
  const cwd = process.cwd();
  let start: StartSettings;
  try {
    start = await resolveStartSettings(argv, process.env, cwd);
    if (start.help) {
      process.stdout.write(`Usage: mcp-monitor start [options]\n\nRuns the API and the MCP servers it supervises (one, or those of --config FILE).\n\n${settingsHelp(START_SETTINGS, cwd)}\n`);
      return;
    }
    parseLogLevel(process.env.MCP_MONITOR_LOG_LEVEL);
    await ensureStateDir(start.settings.stateDir, stateDirLabel(start.stateDirSource));
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, 2);
    throw err;
  }
  await runApi({ command: 'start', settings: start.settings, stateDirSource: start.stateDirSource, servers: start.servers, ...(start.childCwd !== undefined && { childCwd: start.childCwd }), ...(start.config && { config: start.config }) });
}
