/** What the built-in tools may see of the child hosting them. */
import type { SessionRegistry } from '../../../sessions/session-registry.js';
import type { ModernCallers } from '../../hosted/modern-callers.js';

export interface ToolContext {
  serverId: string;
  registry: SessionRegistry;
  /** Sessions since the first start of this server id. */
  totalConnections: () => number;
  /** When this process started serving. */
  startedAt: Date;
  /** The connection id of a modern request's caller (sessionless requests carry no session id). */
  callers: ModernCallers;
}
