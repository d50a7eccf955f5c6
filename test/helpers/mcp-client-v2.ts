/** Real MCP clients from SDK v2 (`@modelcontextprotocol/client`), tracked so that tests close them. */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const clients = new Set<V2TestClient>();

export interface V2TestClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** Goes away (a modern client has nothing to end on the server). */
  close: () => Promise<void>;
}

/**
 * A v2 client in `auto` mode: modern (2026-07-28) against a server that offers it, else it
 * falls back to `initialize`.
 */
export async function connectV2(url: string, options: { name?: string; version?: string; userAgent?: string; mode?: 'auto' | 'legacy' } = {}): Promise<V2TestClient> {
  const headers: Record<string, string> = {};
  if (options.userAgent) headers['User-Agent'] = options.userAgent;
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: options.name ?? 'v2-client', version: options.version ?? '2.0.0' }, { versionNegotiation: { mode: options.mode ?? 'auto' } });
  await client.connect(transport);
  const c: V2TestClient = {
    client,
    transport,
    close: async () => {
      clients.delete(c);
      await client.close();
    },
  };
  clients.add(c);
  return c;
}

/** Closes every v2 client still open. */
export async function closeV2Clients(): Promise<void> {
  // A client whose server is gone may fail to close: nothing is left to clean up then.
  await Promise.all([...clients].map((c) => c.close().catch(() => undefined)));
  clients.clear();
}
