/**
 * The seam between the child and what it serves. Every way of serving MCP is a {@link Backend}:
 * the built-in server, an `--entry` module and a `--command` stdio program are hosted here
 * (server/backends/hosted/), an `--upstream` server is proxied (server/backends/upstream/). A
 * backend says what the snapshot publishes as `backend`, which eras it serves, what it runs
 * beside its sessions (`start()`/`close()`), and which endpoint serves it. Which backend a child
 * has is decided once, in server/backends/index.ts; nothing outside server/backends/ asks.
 */
import type { Era, PublishedBackend, SnapshotProcess } from '../../shared/snapshot.js';
import type { Endpoint, EndpointDeps } from '../endpoint/endpoint.js';

export type { EndpointDeps } from '../endpoint/endpoint.js';

/**
 * The live processes a backend runs (`--command`), published as the snapshot's `processes`
 * until each has exited; `'change'` when the list changed.
 */
export interface ProcessList {
  list(): SnapshotProcess[];
  on(event: 'change', listener: () => void): unknown;
}

/** What a backend may tell the child while it runs. */
export interface BackendHooks {
  /** What `published()` says has changed (the upstream became unreachable): write a snapshot soon. */
  changed(): void;
}

/** One way of serving MCP (see the header). */
export interface Backend {
  /** The snapshot's `backend`, read at every write. Never shows credentials. */
  published(): PublishedBackend;
  /** The protocol eras it serves: a legacy-only one answers a modern request so that the client falls back. */
  readonly eras: ReadonlySet<Era>;
  /** The processes it runs, when it runs any. */
  readonly processes?: ProcessList;
  /** The endpoint that serves it, not started (the child starts and closes it). */
  endpoint(deps: EndpointDeps): Endpoint;
  /** Starts what it runs beside its sessions (a probe, a memory refresh). Throws when called twice. */
  start(hooks: BackendHooks): Promise<void>;
  /** Stops it, after its endpoint has closed. The same promise every time. */
  close(): Promise<void>;
}

/** Both eras: what a v2 server and a proxy serve. */
export const BOTH_ERAS: ReadonlySet<Era> = new Set<Era>(['legacy', 'modern']);
/** The legacy era only: a v1 server, a stdio program. */
export const LEGACY_ONLY: ReadonlySet<Era> = new Set<Era>(['legacy']);
