/**
 * The `--upstream` backend: another server, reached over Streamable HTTP, served by the proxy
 * endpoint (upstream-host.ts). It serves whatever eras the upstream serves (both, as far as
 * the child can tell), publishes whether the upstream answers, and probes it every heartbeat
 * while no client is talking.
 */
import type { Logger } from 'pino';
import type { TrustProxy } from '../../../shared/settings.js';
import type { PublishedBackend } from '../../../shared/snapshot.js';
import { BOTH_ERAS, type Backend, type BackendHooks, type EndpointDeps } from '../backend.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { maxConnectionsFor } from '../../endpoint/http-limits.js';
import { lendsCredentials } from './lent-credentials.js';
import { Upstream, UPSTREAM_SPARE_SOCKETS } from './upstream.js';
import { UpstreamHost } from './upstream-host.js';

/** Options of an {@link UpstreamBackend}. */
export interface UpstreamBackendOptions {
  /** The upstream's URL, credentials included (never shown). */
  url: string;
  /** The child's `--max-sessions`: the upstream gets as many sockets as the child takes connections. */
  maxSessions: number;
  trustProxy: TrustProxy;
  /** How often the upstream is probed while no exchange is answered (the heartbeat). */
  probeMs: number;
  logger: Logger;
}

export class UpstreamBackend implements Backend {
  readonly eras = BOTH_ERAS;
  readonly #o: UpstreamBackendOptions;
  readonly #upstream: Upstream;
  #started = false;

  constructor(o: UpstreamBackendOptions) {
    this.#o = o;
    this.#upstream = new Upstream(o.url, { maxSockets: maxConnectionsFor(o.maxSessions) + UPSTREAM_SPARE_SOCKETS, trustProxy: o.trustProxy });
  }

  published(): PublishedBackend {
    return { kind: 'upstream', target: this.#upstream.shown, upstream: this.#upstream.state };
  }

  endpoint(deps: EndpointDeps): Endpoint {
    if (lendsCredentials(this.#o.url, deps.host)) {
      this.#o.logger.warn({ upstream: this.#upstream.shown, mcpHost: deps.host }, 'the upstream URL has credentials and --mcp-host is not a loopback address: every client that reaches this server is sent on with them');
    }
    return new UpstreamHost({ ...deps, upstream: this.#upstream, sessionsDir: deps.serverDir });
  }

  /** Starts probing; every change of whether the upstream answers is logged and published. */
  async start(hooks: BackendHooks): Promise<void> {
    if (this.#started) throw new Error('UpstreamBackend already started');
    this.#started = true;
    const log = this.#o.logger;
    this.#upstream.on('change', (state) => {
      if (state.reachable) log.info({ upstream: this.#upstream.shown }, 'upstream answers');
      else log.warn({ upstream: this.#upstream.shown, err: state.error }, 'upstream unreachable');
      hooks.changed();
    });
    this.#upstream.watch(this.#o.probeMs);
  }

  /** Stops the probes and closes every socket to the upstream (after the endpoint has closed). */
  close(): Promise<void> {
    return this.#upstream.close();
  }
}
