/** The MCP server the child hosts when no backend is given: a few tools of its own, on SDK v2 (both eras). */
import { McpServer } from '@modelcontextprotocol/server';
import { BOTH_ERAS, type Backend } from '../backend.js';
import { HostedBackend } from '../hosted/hosted-backend.js';
import type { ServerSource } from '../hosted/server-source.js';
import { registerConnectionStats } from './tools/connection-stats.js';
import { registerEcho } from './tools/echo.js';
import { registerServerInfo } from './tools/server-info.js';
import type { ToolContext } from './tools/tool-context.js';

export const BUILTIN_NAME = 'mcp-monitor';
export const BUILTIN_VERSION = '0.1.0';

/** One new McpServer per legacy session and per modern request (the SDK allows one transport each). */
export function builtinServers(ctx: ToolContext): ServerSource {
  return {
    sdk: 'v2',
    eras: BOTH_ERAS,
    create: async () => {
      const server = new McpServer({ name: BUILTIN_NAME, version: BUILTIN_VERSION }, { capabilities: { tools: {} } });
      registerConnectionStats(server, ctx);
      registerServerInfo(server, ctx);
      registerEcho(server);
      return { server };
    },
  };
}

/** The built-in backend. */
export function builtinBackend(ctx: ToolContext): Backend {
  return new HostedBackend({ published: { kind: 'builtin', target: null }, source: builtinServers(ctx), callers: ctx.callers });
}
