/**
 * (1) Change-to-visible latency on the real product: a real SDK client connects, and the bench
 * times from `connect()` resolving until its session is visible in the API, either by polling
 * `GET /api/mcp/connections/<sessionId>` until 200 (`rest`) or as an SSE frame (`sse`).
 * Sessions one at a time; each is ended (DELETE) and seen gone before the next.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { nowMs, sleep } from './lib/clock.js';
import { request, type SseStream } from './lib/http.js';
import type { Api } from './lib/procs.js';

export interface LatencySample {
  /** connect() resolved -> visible (0 when it was visible before connect() resolved). */
  ms: number;
  /** connect() called -> visible (includes the MCP handshake). */
  fromCallMs: number;
  /** Visible before connect() resolved (the write starts when the session is initialized). */
  early: boolean;
}

export async function measureLatency(api: Api, sse: SseStream, mode: 'rest' | 'sse', n: number): Promise<LatencySample[]> {
  const out: LatencySample[] = [];
  for (let i = 0; i < n; i++) {
    const transport = new StreamableHTTPClientTransport(new URL(api.mcpUrl));
    const client = new Client({ name: 'bench-latency', version: '1.0.0' });
    const called = nowMs();
    await client.connect(transport);
    const resolved = nowMs();
    const sid = transport.sessionId!;
    let seen: number;
    if (mode === 'sse') {
      seen = await sse.when((d) => d.includes(sid), 10_000, called);
    } else {
      for (;;) {
        const r = await request(`${api.url}/api/mcp/connections/${sid}`);
        if (r.status === 200) {
          seen = nowMs();
          break;
        }
        if (r.status !== 404) throw new Error(`bench: GET connection: HTTP ${r.status}`);
        if (nowMs() - resolved > 10_000) throw new Error(`bench: session ${sid} not visible after 10 s`);
      }
    }
    out.push({ ms: Math.max(0, seen - resolved), fromCallMs: seen - called, early: seen < resolved });
    await transport.terminateSession();
    await client.close();
    // Gone from the API before the next one, so that each change stands alone.
    for (;;) {
      const r = await request(`${api.url}/api/mcp/connections/${sid}`);
      if (r.status === 404) break;
      await sleep(2);
    }
    // A random pause: do not run in step with the writer's timers.
    await sleep(2 + Math.random() * 15);
  }
  return out;
}
