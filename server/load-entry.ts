/** Loads the user's `--entry` module: its default export is a factory `() => McpServer` (or a promise of one). */
import { pathToFileURL } from 'node:url';
import { access } from 'node:fs/promises';

/** Something the child can host per session: the SDK's McpServer (or low-level Server). */
export interface HostableServer {
  connect(transport: unknown): Promise<void>;
  close(): Promise<void>;
}

export type ServerFactory = () => HostableServer | Promise<HostableServer>;

/** The `--entry` module cannot be loaded or does not export a factory. */
export class EntryError extends Error {
  readonly code = 'EENTRY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EntryError';
  }
}

function isHostable(v: unknown): v is HostableServer {
  return typeof v === 'object' && v !== null && typeof (v as HostableServer).connect === 'function' && typeof (v as HostableServer).close === 'function';
}

/**
 * Imports `file` and returns a factory that checks what it builds. The factory is called
 * once here, so a broken module fails at start rather than on the first client.
 */
export async function loadEntry(file: string): Promise<ServerFactory> {
  try {
    await access(file);
  } catch (err) {
    throw new EntryError(`Invalid --entry: ${file}: no such file`, { cause: err });
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw new EntryError(`Invalid --entry: ${file}: cannot be loaded: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const factory = mod.default;
  if (typeof factory !== 'function') {
    throw new EntryError(`Invalid --entry: ${file}: the default export must be a function returning an McpServer, got ${typeof factory}`);
  }
  const make: ServerFactory = async () => {
    const server = await (factory as () => unknown)();
    if (!isHostable(server)) throw new EntryError(`Invalid --entry: ${file}: the factory did not return an McpServer`);
    return server;
  };
  const probe = await make();
  await probe.close();
  return make;
}
