/** Tool `echo`: returns its text, optionally after a delay; handy to test a client or a slow call. */
import type { McpServer } from '@modelcontextprotocol/server';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';

/** Longest delay `echo` accepts, so a client cannot park a request for ever. */
export const ECHO_MAX_DELAY_MS = 60_000;

/** Registers `echo` on `server`. */
export function registerEcho(server: McpServer): void {
  server.registerTool(
    'echo',
    {
      title: 'Echo',
      description: `Returns the given text. With delayMs (at most ${ECHO_MAX_DELAY_MS}), answers after that long.`,
      inputSchema: z.object({
        text: z.string().describe('what to send back'),
        delayMs: z.number().int().min(0).max(ECHO_MAX_DELAY_MS).optional().describe('wait this long first'),
      }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ text, delayMs }, ctx) => {
      // An aborted wait (the client cancelled) just answers early: nobody reads the answer.
      if (delayMs) await delay(delayMs, undefined, { signal: ctx.mcpReq.signal }).catch(() => undefined);
      return { content: [{ type: 'text', text }] };
    },
  );
}
