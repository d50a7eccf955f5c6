/** A bad MCP_MONITOR_LOG_LEVEL is a bad setting like any other: exit 2, one line, nothing started. */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, makeStateDir, run } from './helpers/processes.js';

afterEach(cleanup);

describe('MCP_MONITOR_LOG_LEVEL', () => {
  it.each([
    ['server', ['--mcp-port', '0']],
    ['start', ['--port', '0', '--mcp-port', '0']],
  ])('%s refuses "dbug": exit 2, one line naming the variable and the levels', async (command, args) => {
    const stateDir = await makeStateDir();
    const r = await run([command, '--state-dir', stateDir, ...args], { env: { ...process.env, MCP_MONITOR_LOG_LEVEL: 'dbug' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`mcp-monitor ${command}: Invalid MCP_MONITOR_LOG_LEVEL: "dbug" (expected one of fatal, error, warn, info, debug, trace, silent)`);
  });
});
