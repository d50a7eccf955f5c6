/**
 * The command line of `mcp-monitor wrap [options] -- CMD [ARG…]`: the wrapper's own options, then
 * CMD. `--` ends the options; without it CMD begins at the first word that is neither an option
 * nor an option's value, so that `wrap npx -y server` works too (CMD's own `-y` is never read as
 * ours). Pure.
 */
import { SETTINGS, UsageError, type SettingKey } from '../../../shared/settings.js';

/** The wrapper's options and CMD. */
export interface WrapArgv {
  options: string[];
  command: string[];
}

/** Splits `argv` (after `wrap`) for the settings `keys` (each a flag with a value) and `--help`. */
export function splitWrapArgv(argv: readonly string[], keys: readonly SettingKey[]): WrapArgv {
  const valued = new Set(keys.filter((k) => SETTINGS[k].type === 'string').map((k) => `--${SETTINGS[k].flag}`));
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i]!;
    if (a === '--') return { options: argv.slice(0, i), command: argv.slice(i + 1) };
    if (!a.startsWith('-') || a === '-') return { options: argv.slice(0, i), command: argv.slice(i) };
    if (valued.has(a)) {
      if (i + 1 >= argv.length) throw new UsageError(`option ${a} needs a value (see 'mcp-monitor wrap --help')`);
      i += 1;
    }
  }
  return { options: [...argv], command: [] };
}
