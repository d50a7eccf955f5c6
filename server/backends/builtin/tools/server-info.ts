/** Tool `server_info`: identity and health of this MCP child (pid, uptime, memory, versions). */
import type { McpServer } from '@modelcontextprotocol/server';
import type { ToolContext } from './tool-context.js';

/** Registers `server_info` on `server`. */
export function registerServerInfo(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'server_info',
    {
      title: 'Server info',
      description: 'This MCP server: id, pid, start time, uptime, memory use and Node.js version.',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async () => {
      const info = {
        serverId: ctx.serverId,
        pid: process.pid,
        startedAt: ctx.startedAt.toISOString(),
        uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
        rssBytes: process.memoryUsage.rss(),
        node: process.version,
      };
      return { content: [{ type: 'text', text: JSON.stringify(info, null, 2) }], structuredContent: info };
    },
  );
}
