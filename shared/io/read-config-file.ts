/** Reads a `start --config` file from disk; its format and parsing are shared/config-file.ts. */
import { readFile, stat } from 'node:fs/promises';
import { CONFIG_MAX_BYTES, ConfigError, parseConfigText, type FleetConfig } from '../config-file.js';
import { errnoPhrase } from '../errno.js';

/**
 * Reads and parses a config file, then checks what only the file system can tell: that each
 * `entry` is a file. Throws {@link ConfigError} for every problem, the unreadable file included.
 */
export async function readConfigFile(file: string, shownFile = file): Promise<FleetConfig> {
  let text: string;
  let mode: number;
  try {
    const st = await stat(file);
    mode = st.mode & 0o777;
    if (!st.isFile()) throw new ConfigError(shownFile, '', 'not a file');
    if (st.size > CONFIG_MAX_BYTES) throw new ConfigError(shownFile, '', `${st.size} bytes (at most ${CONFIG_MAX_BYTES})`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(shownFile, '', errnoPhrase(err, 'file'));
  }
  const config = { ...parseConfigText(text, file, shownFile), mode };
  for (const [n, s] of config.servers.entries()) {
    const entry = s.settings.entry;
    if (entry === undefined) continue;
    const st = await stat(entry).catch(() => undefined);
    if (!st?.isFile()) throw new ConfigError(shownFile, `servers[${n}].entry`, `${entry}: no such file`);
  }
  return config;
}
