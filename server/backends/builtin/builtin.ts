/** The MCP server the child hosts when no `--entry` is given: a few tools of its own, on SDK v2 (both eras). */
import { McpServer } from '@modelcontextprotocol/server';
import { registerConnectionStats } from './tools/connection-stats.js';
import { registerEcho } from './tools/echo.js';
import { registerServerInfo } from './tools/server-info.js';
import type { ToolContext } from './tools/tool-context.js';
import type { Backend } from '../entry/entry.js';

export const BUILTIN_NAME = 'mcp-monitor';
export const BUILTIN_VERSION = '0.1.0';

/**
 * The built-in backend: one new McpServer per legacy session and per modern request (the SDK
 * allows one transport each).
 */
export function builtinBackend(ctx: ToolContext): Backend {
  return {
    generation: 'v2',
    create: () => {
      const server = new McpServer({ name: BUILTIN_NAME, version: BUILTIN_VERSION }, { capabilities: { tools: {} } });
      registerConnectionStats(server, ctx);
      registerServerInfo(server, ctx);
      registerEcho(server);
      return server;
    },
  };
}
