/**
 * The environment of a `--command` stdio process. When the API starts a `command` server of a
 * `--config` file it sets {@link COMMAND_ENV} to that server's `env` (a JSON object of strings):
 * the process then gets only the variables the MCP SDK's stdio client passes (its
 * `getDefaultEnvironment`, https://github.com/modelcontextprotocol/typescript-sdk/blob/main/src/client/stdio.ts)
 * plus that object. Otherwise (a `--command` from a flag or env var, run by a user in their
 * shell) it gets that environment, minus the monitor's own `MCP_MONITOR_*` variables.
 */
import { COMMAND_ENV } from '../../../shared/child-env.js';
import { UsageError } from '../../../shared/settings.js';

/** What a stdio process inherits when {@link COMMAND_ENV} is set (the SDK's allow-list on POSIX). */
export const INHERITED_ENV = ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER'] as const;

/** The env of every stdio process of this child; throws a UsageError for a malformed {@link COMMAND_ENV}. */
export function stdioEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const raw = env[COMMAND_ENV];
  if (raw === undefined) {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('MCP_MONITOR_')) out[k] = v;
    return out;
  }
  let extra: unknown;
  try {
    extra = JSON.parse(raw);
  } catch {
    throw new UsageError(`Invalid ${COMMAND_ENV}: not JSON (expected an object of strings)`);
  }
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra) || !Object.values(extra).every((v) => typeof v === 'string')) {
    throw new UsageError(`Invalid ${COMMAND_ENV}: ${JSON.stringify(raw.slice(0, 80))} (expected an object of strings)`);
  }
  const out: Record<string, string> = {};
  for (const k of INHERITED_ENV) {
    const v = env[k];
    // Exported shell functions are not passed on, as the SDK does not.
    if (v !== undefined && !v.startsWith('()')) out[k] = v;
  }
  return { ...out, ...(extra as Record<string, string>) };
}
