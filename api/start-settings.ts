/**
 * The settings of `mcp-monitor start`: flags and env vars (see shared/settings.ts) and, with
 * `--config`, the file (see shared/config-file.ts). A flag or env var wins over the file's API
 * settings; the child settings come from the file alone: given as a flag they are a usage error,
 * their env vars are ignored. Everything is checked here, before anything starts.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { CONFIG_API_KEYS, CONFIG_SERVER_KEYS, type FleetConfig, type ServerConfig } from '../shared/config-file.js';
import { readConfigFile } from '../shared/io/read-config-file.js';
import { SETTINGS, UsageError, parseCommand, type SettingKey, type SettingSource, type Settings } from '../shared/settings.js';

/** Every setting: `start` takes them all. */
export const START_SETTINGS = Object.keys(SETTINGS) as SettingKey[];

/**
 * Settings of one child only, which a config file gives per server. `allowedHosts` is not among
 * them: it is also the API's (its flag then sets the API's, over the file's top-level key).
 */
const CHILD_ONLY_KEYS: readonly SettingKey[] = [...CONFIG_SERVER_KEYS.filter((k) => k !== 'allowedHosts'), 'serverId'];

export interface StartSettings {
  /** `--help` was asked for: nothing else is set. */
  help: boolean;
  /** The API's settings (the child ones are those of the flags, unused with `--config`). */
  settings: Settings;
  /** The servers to supervise, in order; the first is the default server. */
  servers: ServerConfig[];
  /** The children's working directory: the config file's, so that relative paths in a `command` are relative to it. */
  childCwd: string | undefined;
  /** The config file read, with `--config`. */
  config?: FleetConfig;
  /** Where the state directory came from. */
  stateDirSource: StateDirSource;
}

/** Where the state directory came from: a setting's source, or the config file. */
export type StateDirSource = SettingSource | 'config';

/** How an error names the file: as the user would write it from here. */
function shownPath(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

/** Resolves the settings of `start`; throws {@link UsageError} (a `ConfigError` for the file) naming what is wrong. */
export async function resolveStartSettings(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<StartSettings> {
  // First without the child settings' env vars: with --config they are ignored, so a bad one
  // must not stop the program; without it, the second parse below reads them as always.
  const apiEnv = { ...env };
  for (const k of CHILD_ONLY_KEYS) delete apiEnv[SETTINGS[k].env];
  const first = parseCommand('start', argv, apiEnv, START_SETTINGS, { cwd });
  const help = Boolean(first.flags.help);
  const file = first.settings.config;
  if (help || file === undefined) {
    const { settings, sources } = help ? first : parseCommand('start', argv, env, START_SETTINGS, { cwd });
    const s = settings as Settings;
    if (!help && s.entry) await access(s.entry).catch(() => { throw new UsageError(`Invalid --entry: ${s.entry}: no such file`); });
    const server: ServerConfig = { id: s.serverId, settings: s, env: {}, autostart: true };
    return { help, settings: s, servers: [server], childCwd: undefined, stateDirSource: sources.stateDir };
  }

  for (const k of CHILD_ONLY_KEYS) {
    if (first.sources[k] !== 'flag') continue;
    const where = k === 'serverId' ? 'each server\'s "id"' : `"${k}" of each server`;
    throw new UsageError(`--${SETTINGS[k].flag} cannot be used with --config: child settings come from the file (${where})`);
  }
  const config = await readConfigFile(file, shownPath(file, cwd));
  const settings = { ...first.settings } as Settings;
  for (const k of CONFIG_API_KEYS) {
    const v = config.api[k];
    if (v !== undefined && first.sources[k] === 'default') (settings as unknown as Record<string, unknown>)[k] = v;
  }
  const stateDirSource = first.sources.stateDir === 'default' && config.api.stateDir !== undefined ? 'config' : first.sources.stateDir;
  return { help, settings, servers: config.servers, childCwd: path.dirname(file), config, stateDirSource };
}
