/**
 * The `--entry` server of the catalog section (bench/catalog.ts): an SDK v1 low-level server that
 * lists `BENCH_CATALOG_TOOLS` tools (default 500) of lib/tool-definitions.ts in one `tools/list`
 * page. With 0 it has no tools at all, no `tools` capability and no `tools/list` handler: the
 * request is answered -32601, so the child's catalog stays null while its `operations` count the
 * request as they do with tools (a caller's fault is no error, docs/state-directory.md, the snapshot schema).
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { toolDefinitions } from './lib/tool-definitions.js';

const TOOLS = toolDefinitions(Number(process.env.BENCH_CATALOG_TOOLS ?? 500));

export default function createServer(): Server {
  const server = new Server({ name: 'bench-catalog', version: '1.0.0' }, { capabilities: TOOLS.length > 0 ? { tools: {} } : {} });
  if (TOOLS.length > 0) {
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
    server.setRequestHandler(CallToolRequestSchema, (req) => ({ content: [{ type: 'text', text: req.params.name }] }));
  }
  return server;
}
