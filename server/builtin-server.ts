/** The MCP server the child hosts when no `--entry` is given: a few tools of its own. */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { registerConnectionStats } from './tools/connection-stats.js';
import { registerEcho } from './tools/echo.js';
import { registerServerInfo } from './tools/server-info.js';
import type { ToolContext } from './tools/tool-context.js';

export const BUILTIN_NAME = 'mcp-monitor';
export const BUILTIN_VERSION = '0.1.0';

/** A factory of built-in servers: one new McpServer per session (the SDK allows one transport each). */
export function builtinServerFactory(ctx: ToolContext): () => McpServer {
  return () => {
    const server = new McpServer({ name: BUILTIN_NAME, version: BUILTIN_VERSION }, { capabilities: { tools: {} } });
    registerConnectionStats(server, ctx);
    registerServerInfo(server, ctx);
    registerEcho(server);
    return server;
  };
}
