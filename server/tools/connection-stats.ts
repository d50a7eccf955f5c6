/**
 * Tool `connection_stats`: the caller's own session as the monitor sees it, and how many other
 * sessions there are. Never another client's session id or IP: on Streamable HTTP the session
 * id is the only credential of a session, and IPs are personal data (issue 8, review H1;
 * contract §7).
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolContext } from './tool-context.js';

/** Registers `connection_stats` on `server`. */
export function registerConnectionStats(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'connection_stats',
    {
      title: 'Connection stats',
      description:
        'Your own session as this MCP server records it (session id, IP, user agent, client info, request count, times), ' +
        'and the number of sessions connected now and since the server first started. Nothing about other clients but counts.',
      annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
    },
    async (extra) => {
      const own = extra.sessionId ? ctx.registry.get(extra.sessionId) : undefined;
      const activeConnections = ctx.registry.size;
      const stats = {
        serverId: ctx.serverId,
        activeConnections,
        totalConnections: ctx.totalConnections(),
        otherConnections: own ? activeConnections - 1 : activeConnections,
        you: own
          ? {
              sessionId: own.sessionId,
              clientIP: own.clientIP,
              userAgent: own.userAgent,
              clientInfo: own.clientInfo,
              protocolVersion: own.protocolVersion,
              connectedAt: own.connectedAt,
              lastActivity: own.lastActivity,
              requestCount: own.requestCount,
            }
          : null,
      };
      return {
        content: [{ type: 'text', text: JSON.stringify(stats, null, 2) }],
        structuredContent: stats,
      };
    },
  );
}
