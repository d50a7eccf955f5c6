/**
 * Tool `connection_stats`: the caller's own connection as the monitor sees it (a legacy session,
 * or a modern client), and how many other connections there are. Never another client's id or
 * IP: on Streamable HTTP the session id is the only credential of a session, and IPs are
 * personal data.
 */
import type { McpServer } from '@modelcontextprotocol/server';
import type { ToolContext } from './tool-context.js';

/** Registers `connection_stats` on `server`. */
export function registerConnectionStats(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'connection_stats',
    {
      title: 'Connection stats',
      description:
        'Your own connection as this MCP server records it (id, era, IP, user agent, client info, request count, times), ' +
        'and the number of connections now and since the server first started. Nothing about other clients but counts.',
      annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: false },
    },
    async (extra) => {
      // Legacy: the transport's session id. Modern: the host's record of this very request.
      const ownId = extra.sessionId ?? ctx.callers.get(extra.http?.req)?.connectionId ?? undefined;
      const own = ownId ? ctx.registry.get(ownId) : undefined;
      const activeConnections = ctx.registry.size;
      const stats = {
        serverId: ctx.serverId,
        activeConnections,
        totalConnections: ctx.totalConnections(),
        otherConnections: own ? activeConnections - 1 : activeConnections,
        you: own
          ? {
              sessionId: own.sessionId,
              era: own.era ?? 'legacy',
              clientIP: own.clientIP,
              userAgent: own.userAgent,
              clientInfo: own.clientInfo,
              protocolVersion: own.protocolVersion,
              connectedAt: own.connectedAt,
              lastActivity: own.lastActivity,
              requestCount: own.requestCount,
              lastMethod: own.lastMethod ?? null,
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
