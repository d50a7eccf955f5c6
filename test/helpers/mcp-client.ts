/** Real MCP clients from the SDK, tracked so that tests close them. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const clients = new Set<McpTestClient>();

export interface McpTestClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  sessionId: string;
  /** Ends the session the polite way: DELETE, then close. */
  terminate: () => Promise<void>;
  /** Goes away without DELETE, as most clients do. */
  close: () => Promise<void>;
}

export async function connectClient(url: string, options: { name?: string; version?: string; userAgent?: string; headers?: Record<string, string> } = {}): Promise<McpTestClient> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.userAgent) headers['User-Agent'] = options.userAgent;
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: options.name ?? 'test-client', version: options.version ?? '1.0.0' });
  await client.connect(transport);
  const c: McpTestClient = {
    client,
    transport,
    sessionId: transport.sessionId!,
    terminate: async () => {
      clients.delete(c);
      await transport.terminateSession();
      await client.close();
    },
    close: async () => {
      clients.delete(c);
      await client.close();
    },
  };
  clients.add(c);
  return c;
}

export async function closeClients(): Promise<void> {
  await Promise.all([...clients].map((c) => c.close().catch(() => undefined)));
  clients.clear();
}
