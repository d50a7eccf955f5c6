/**
 * `--server-id` of the reading commands: a filter (all servers when absent), so a flag only,
 * not the setting with its `default` and its environment variable.
 */
import { SERVER_ID_RE } from '../shared/paths.js';
import { UsageError, type CommandFlags } from '../shared/settings.js';

export const SERVER_ID_FLAG: CommandFlags = { 'server-id': { type: 'string' } };

export const SERVER_ID_HELP = `  --server-id ID            only this server (default: every server in the state directory)`;

/** The id given with `--server-id`, checked; undefined when not given. Throws {@link UsageError}. */
export function serverIdFilter(value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !SERVER_ID_RE.test(value)) {
    throw new UsageError(`Invalid --server-id: ${JSON.stringify(value)} (expected a server id ([A-Za-z0-9_-]{1,64}))`);
  }
  return value;
}
