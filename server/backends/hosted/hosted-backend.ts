/**
 * A backend whose servers run in this child (the built-in server, an `--entry` module, a
 * `--command` program bridged per session): served by the hosted endpoint (hosted-endpoint.ts)
 * from its {@link ServerSource}.
 */
import type { PublishedBackend } from '../../../shared/snapshot.js';
import type { Backend, EndpointDeps, ProcessList } from '../backend.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { McpHost } from './hosted-endpoint.js';
import type { ModernCallers } from './modern-callers.js';
import type { ServerSource } from './server-source.js';

/** What a hosted backend runs beside its sessions (the memory refresh of `--command`). */
export interface Companion {
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Options of a {@link HostedBackend}. */
export interface HostedBackendOptions {
  published: PublishedBackend;
  source: ServerSource;
  /** Links modern requests to their clients, for tools that report on them (the built-in ones). */
  callers?: ModernCallers;
  processes?: ProcessList;
  companion?: Companion;
}

export class HostedBackend implements Backend {
  readonly #o: HostedBackendOptions;
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(o: HostedBackendOptions) {
    this.#o = o;
  }

  get eras() {
    return this.#o.source.eras;
  }

  get processes(): ProcessList | undefined {
    return this.#o.processes;
  }

  published(): PublishedBackend {
    return this.#o.published;
  }

  endpoint(deps: EndpointDeps): Endpoint {
    return new McpHost({ ...deps, servers: this.#o.source, ...(this.#o.callers && { callers: this.#o.callers }) });
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('HostedBackend already started');
    this.#started = true;
    if (this.#closing) return;
    await this.#o.companion?.start();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#o.companion?.close();
    })();
    return this.#closing;
  }
}
