/**
 * The `tools/call` load of the throughput runs and of the profiler: `clients` real SDK clients,
 * each calling `echo` in a loop. Two kinds of client:
 * - `v1`: `@modelcontextprotocol/sdk` 1.32.2, always the legacy era (`initialize`, a session);
 * - `v2`: `@modelcontextprotocol/client` 2.4.0 with `versionNegotiation: { mode: 'auto' }`: the
 *   modern era (2026-07-28, no session) against a server that offers it, else it falls back to
 *   `initialize` on its own. Which era it got is for the caller to read from the snapshot.
 */
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { nowMs } from './clock.js';

/** Which SDK the load's clients come from. */
export type ClientKind = 'v1' | 'v2';

/** The clientInfo name of the load's clients, by kind: how the bench finds them in a snapshot. */
export const CLIENT_NAME: Record<ClientKind, string> = { v1: 'bench-throughput', v2: 'bench-throughput-v2' };

export interface LoadClient {
  call: () => Promise<unknown>;
  /** DELETE when there is a session (legacy), then close. */
  end: () => Promise<void>;
  /** Close without DELETE: the server ends the session when it idles. */
  leave: () => Promise<void>;
  /** The legacy session's id, if it has one. */
  sessionId: () => string | undefined;
}

/** The `tools/call` a load client repeats. */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** The built-in server's `echo`. */
export const ECHO: ToolCall = { name: 'echo', arguments: { text: 'hello' } };

/** Connects one client of `kind` that repeats `args`. */
export async function connect(url: string, kind: ClientKind, args: ToolCall = ECHO): Promise<LoadClient> {
  if (kind === 'v1') {
    const transport = new V1Transport(new URL(url));
    const client = new V1Client({ name: CLIENT_NAME.v1, version: '1.0.0' });
    await client.connect(transport);
    return {
      call: () => client.callTool(args),
      end: async () => {
        await transport.terminateSession();
        await client.close();
      },
      leave: () => client.close(),
      sessionId: () => transport.sessionId,
    };
  }
  const transport = new V2Transport(new URL(url));
  const client = new V2Client({ name: CLIENT_NAME.v2, version: '2.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(transport);
  return {
    call: () => client.callTool(args),
    end: async () => {
      // A modern client has no session to end; a fallen-back one has, and ends it as v1 does.
      if (transport.sessionId !== undefined) await transport.terminateSession();
      await client.close();
    },
    leave: () => client.close(),
    sessionId: () => transport.sessionId,
  };
}

/** What one load run did. */
export interface LoadResult {
  /** Calls per second in the timed part. */
  rps: number;
  /** Calls in the timed part. */
  timedCalls: number;
  /** Every `tools/call` sent, the warm-up's included (what the server should have counted). */
  totalCalls: number;
}

/**
 * Connects `clients` clients of `kind`, warms up for 300 ms (JIT, sockets), then counts calls
 * for `seconds`. `whileOpen` runs after the timed part, before the clients go away (to look at
 * them in the snapshot).
 */
export async function load(url: string, kind: ClientKind, clients: number, seconds: number, whileOpen?: () => Promise<void>, args: ToolCall = ECHO): Promise<LoadResult> {
  const cs = await Promise.all(Array.from({ length: clients }, () => connect(url, kind, args)));
  let totalCalls = 0;
  const warmEnd = nowMs() + 300;
  await Promise.all(cs.map(async (c) => {
    while (nowMs() < warmEnd) {
      await c.call();
      totalCalls += 1;
    }
  }));
  let timedCalls = 0;
  const start = nowMs();
  const end = start + seconds * 1000;
  await Promise.all(cs.map(async (c) => {
    while (nowMs() < end) {
      await c.call();
      timedCalls += 1;
    }
  }));
  const elapsed = (nowMs() - start) / 1000;
  totalCalls += timedCalls;
  try {
    await whileOpen?.();
  } finally {
    await Promise.all(cs.map((c) => c.end()));
  }
  return { rps: timedCalls / elapsed, timedCalls, totalCalls };
}
