/**
 * The start and close of one MCP endpoint's HTTP server, shared by `McpHost` and `UpstreamHost`
 * (server/backends/hosted/hosted-endpoint.ts, server/backends/upstream/upstream-host.ts): `start()` runs once, `close()` once
 * (the same promise every time), and a `close()` that comes while `start()` is under way waits
 * for the port to be bound and closes it. Such a `start()` rejects ("closed while starting"),
 * and only once the port is closed again: after either settles, nothing listens.
 */
import type http from 'node:http';
import type { McpEndpoint } from '../../shared/snapshot.js';
import { closeMcp } from './mcp-http.js';

/** What a host's `start()` does, in order. */
export interface EndpointStart {
  /** Work before the port is bound (reading state); skipped is the binding when close() came meanwhile. */
  prepare?: () => Promise<void>;
  /** Binds the port (`listenMcp` of server/endpoint/mcp-http.ts). */
  listen: () => Promise<{ server: http.Server; endpoint: McpEndpoint }>;
  /** Starts what runs while serving (timers); called only when no close() has come. */
  serving: () => void;
}

/** The start()/close() of one endpoint's server. */
export class EndpointLifecycle {
  readonly #name: string;
  #started = false;
  /** The server start() bound, once binding has settled (undefined: none was bound). */
  #bound: Promise<http.Server | undefined> | undefined;
  #closing: Promise<void> | undefined;

  /** `name` is the host's, for the errors. */
  constructor(name: string) {
    this.#name = name;
  }

  /** Whether close() was called. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Runs `steps`; resolves with the endpoint. Throws when called twice or after close(); when
   * close() comes meanwhile, rejects once the port is closed.
   */
  async start(steps: EndpointStart): Promise<McpEndpoint> {
    if (this.#started) throw new Error(`${this.#name} already started`);
    this.#started = true;
    if (this.#closing) throw new Error(`${this.#name} closed`);
    const bound = steps.prepare ? steps.prepare().then(() => (this.#closing ? undefined : steps.listen())) : steps.listen();
    this.#bound = bound.then((b) => b?.server, () => undefined);
    const b = await bound;
    if (!b || this.#closing) {
      await this.#closing;
      throw new Error(`${this.#name} closed while starting`);
    }
    steps.serving();
    return b.endpoint;
  }

  /**
   * Once: waits for a start() under way to bind its port, then closes it once `endAll` has
   * ended every session (`closeMcp`). The same promise every time.
   */
  close(endAll: () => Promise<void>): Promise<void> {
    this.#closing ??= (async () => {
      const server = await this.#bound;
      await closeMcp(server, endAll);
    })();
    return this.#closing;
  }
}
