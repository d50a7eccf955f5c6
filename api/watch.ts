/**
 * `mcp-monitor watch`: the API and its dashboard (api/run-api.ts) over every writer found in the
 * state directory (`wrap` servers, standalone `mcp-monitor server`s, the children of any
 * `start`), spawning nothing: every server is `external`, so restart/stop/start answer 409.
 */
import { parseLogLevel } from '../shared/log-level.js';
import { ensureStateDir, stateDirLabel } from '../shared/io/state-dir.js';
import { UsageError, parseCommand, settingsHelp, type SettingKey } from '../shared/settings.js';
import { runApi } from './run-api.js';

/** The settings `watch` takes: the API's own, none of a child's. */
export const WATCH_SETTINGS = ['port', 'host', 'token', 'allowedHosts', 'stateDir'] as const satisfies readonly SettingKey[];

function fail(message: string, code: number): void {
  process.stderr.write(`mcp-monitor watch: ${message}\n`);
  process.exitCode = code;
}

/** `mcp-monitor watch` with `argv` (flags after the command). */
export async function main(argv: string[]): Promise<void> {
  const cwd = process.cwd();
  let parsed;
  try {
    parsed = parseCommand('watch', argv, process.env, WATCH_SETTINGS, { cwd });
    if (parsed.flags.help) {
      process.stdout.write(`Usage: mcp-monitor watch [options]\n\nRuns the API and the dashboard over every server found in the state directory\n(wrap servers, standalone servers, the children of any start), spawning nothing.\n\n${settingsHelp(WATCH_SETTINGS, cwd)}\n`);
      return;
    }
    parseLogLevel(process.env.MCP_MONITOR_LOG_LEVEL);
    // Made if missing (with its marker), so that the servers started later are seen.
    await ensureStateDir(parsed.settings.stateDir, stateDirLabel(parsed.sources.stateDir));
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, 2);
    throw err;
  }
  // No child: the default server of the routes is `default`, as for `start` without flags.
  await runApi({ command: 'watch', settings: { ...parsed.settings, serverId: 'default' }, stateDirSource: parsed.sources.stateDir, servers: [] });
}
