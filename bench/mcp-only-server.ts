/**
 * "Monitoring off" for (4): the same MCP host, registry and built-in tools as `mcp-monitor
 * server`, with no snapshot writer and no journal. It tells its parent its URL over IPC.
 */
import { createLogger } from '../shared/io/logger.js';
import { builtinServers } from '../server/backends/builtin/builtin.js';
import { McpHost } from '../server/backends/hosted/hosted-endpoint.js';
import { ModernCallers } from '../server/backends/hosted/modern-callers.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';

// As the real child logs: never blocking on stderr.
const log = createLogger('bench-off', process.env.MCP_MONITOR_LOG_LEVEL, { async: true });
const registry = new SessionRegistry();
const startedAt = new Date();
const callers = new ModernCallers();
// No recorder: monitoring off counts no operations, so the ratio includes their cost.
const host = new McpHost({
  host: '127.0.0.1',
  port: 0,
  registry,
  servers: builtinServers({ serverId: 'default', registry, startedAt, totalConnections: () => registry.created, callers }),
  callers,
  logger: log.child({ component: 'mcp-host' }),
  maxSessions: 1000,
  sessionIdleMs: 1_800_000,
  trustProxy: false,
});
// The same per-session log line as the real child, so that only the monitoring differs.
registry.on('connect', (c) => log.debug({ sessionId: c.sessionId, clientIP: c.clientIP, client: c.clientInfo?.name, userAgent: c.userAgent }, 'session started'));
const endpoint = await host.start();
process.send!({ url: endpoint.url });
const stopHost = () => void host.close();
process.on('SIGTERM', stopHost);
process.on('SIGINT', stopHost);
process.on('disconnect', stopHost);
