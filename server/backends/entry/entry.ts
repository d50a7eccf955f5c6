/**
 * The `--entry` backend: the user's module, whose default export is a factory `() => McpServer`
 * (or a promise of one), of SDK v1 (`@modelcontextprotocol/sdk`: the legacy era only) or v2
 * (`@modelcontextprotocol/server`: both eras). The module brings its own copy of the SDK: its
 * generation is read by duck typing, never by `instanceof`.
 */
import { access } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { BOTH_ERAS, LEGACY_ONLY, type Backend } from '../backend.js';
import { HostedBackend } from '../hosted/hosted-backend.js';
import type { FactoryContext, HostableServer, SdkGeneration, ServerSource } from '../hosted/server-source.js';

/** The `--entry` module cannot be loaded or does not export a factory. */
export class EntryError extends Error {
  readonly code = 'EENTRY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EntryError';
  }
}

/**
 * The SDK generation of `x` by duck typing: `instanceof` fails when the user's module resolves
 * its own copy of a package (its classes are then not ours). Only v2's low-level Server has
 * `getNegotiatedProtocolVersion` and `projectCallToolResult`; both have `setRequestHandler`.
 */
export function sdkGeneration(x: unknown): SdkGeneration | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const o = x as Record<string, unknown>;
  if (typeof o.connect !== 'function' || typeof o.close !== 'function') return undefined;
  const low = (typeof o.server === 'object' && o.server !== null ? o.server : o) as Record<string, unknown>;
  if (typeof low.getNegotiatedProtocolVersion === 'function' && typeof low.projectCallToolResult === 'function') return 'v2';
  if (typeof low.setRequestHandler === 'function') return 'v1';
  return undefined;
}

/**
 * Imports `file` and returns its servers. The factory is called once here, so a broken module
 * fails at start rather than on the first client, and its generation is known from then on.
 */
export async function loadEntry(file: string): Promise<ServerSource> {
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
  const build = async (ctx: FactoryContext): Promise<{ server: HostableServer; generation: SdkGeneration }> => {
    const server: unknown = await (factory as (ctx: FactoryContext) => unknown)(ctx);
    const generation = sdkGeneration(server);
    if (!generation) throw new EntryError(`Invalid --entry: ${file}: the factory did not return an McpServer`);
    return { server: server as HostableServer, generation };
  };
  const probe = await build({ era: 'legacy' });
  await probe.server.close();
  return {
    sdk: probe.generation,
    eras: probe.generation === 'v2' ? BOTH_ERAS : LEGACY_ONLY,
    create: async (ctx) => ({ server: (await build(ctx)).server }),
  };
}

/** The backend of `--entry file`. */
export async function entryBackend(file: string): Promise<Backend> {
  return new HostedBackend({ published: { kind: 'entry', target: file }, source: await loadEntry(file) });
}
