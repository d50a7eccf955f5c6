/**
 * The environment variable that carries a config server's `env` from the API to its child, as
 * a JSON object of strings: the child gives it to its `--command` processes only
 * (server/backends/command/stdio-env.ts), so that nothing in it (`NODE_OPTIONS=--inspect`, say) changes
 * the child itself. Set by api/fleet.ts.
 */
export const COMMAND_ENV = 'MCP_MONITOR_COMMAND_ENV';
