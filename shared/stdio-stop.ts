/**
 * How long ending a `--command` stdio process may take, shared by the child that
 * ends its processes and the API that ends the child: the MCP stdio lifecycle
 * (https://modelcontextprotocol.io/specification/2025-06-18/basic/lifecycle#stdio) closes stdin,
 * sends SIGTERM {@link STDIO_TERM_AFTER_MS} later and SIGKILL {@link STDIO_KILL_AFTER_MS} after
 * that. The API must give its child longer than their sum, or its own SIGKILL of the child lands
 * first and the processes outlive it.
 */

/** How long a stdio process has to exit once its stdin is closed before its group gets SIGTERM. */
export const STDIO_TERM_AFTER_MS = 2000;
/** How long a stdio process has to exit after SIGTERM before its group gets SIGKILL. */
export const STDIO_KILL_AFTER_MS = 3000;
/** What a child may take beyond its stdio processes' end: the final snapshot, the journal, the lock. */
const CHILD_SHUTDOWN_MARGIN_MS = 5000;
/** How long the API waits for its child to stop after SIGTERM before SIGKILL: 10 s. */
export const CHILD_STOP_TIMEOUT_MS = STDIO_TERM_AFTER_MS + STDIO_KILL_AFTER_MS + CHILD_SHUTDOWN_MARGIN_MS;
