/** Tool `connection_stats`: who is connected to this MCP server right now, as the monitor sees it. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolContext } from './tool-context.js';

export function registerConnectionStats(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'connection_stats',
    {
      title: 'Connection stats',
      description: 'Sessions connected to this MCP server now: counts, and each client with its IP, user agent and request count.',
      annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
    },
    async (extra) => {
      const connections = ctx.registry.list();
      const stats = {
        serverId: ctx.serverId,
        activeConnections: connections.length,
        totalConnections: ctx.totalConnections(),
        yourSessionId: extra.sessionId ?? null,
        connections: connections.map((c) => ({
          sessionId: c.sessionId,
          clientIP: c.clientIP,
          client: c.clientInfo ? `${c.clientInfo.name} ${c.clientInfo.version}` : null,
          userAgent: c.userAgent,
          connectedAt: c.connectedAt,
          requestCount: c.requestCount,
        })),
      };
      return {
        content: [{ type: 'text', text: JSON.stringify(stats, null, 2) }],
        structuredContent: stats,
      };
    },
  );
}
