/**
 * The backend of `mcp-monitor wrap`: one connection, the client at the other end of the pipes,
 * served by CMD through the {@link WrapRelay}. A {@link Backend} like the others, so that the
 * writer's whole wiring (server/writer-run.ts: lock, snapshot writer, journal, control directory)
 * is the one `mcp-monitor server` runs; only its endpoint differs: a stdio front
 * ({@link WrapFront}) with no address (the snapshot's `mcp` is null) that lists the connection
 * from its start to the wrapper's end and ends it on request by ending CMD. A Backend rather than
 * an Endpoint beside the backends, because the seam already carries all wrap needs: what is
 * published (`{kind: 'wrap', target}`), the processes it runs (`processes`, for the next
 * writer's reaper), and what runs beside the session (the memory refresh).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { joinCommandLine } from '../../../shared/command-line.js';
import { groupRssBytes } from '../../../shared/io/process-groups.js';
import type { CloseReason, Connection, ConnectionProcess, LaunchedBy, PublishedBackend, SnapshotProcess } from '../../../shared/snapshot.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { METHOD_MAX } from '../../operations/operation-recorder.js';
import { boundClientInfo, boundProtocolVersion, boundText } from '../../sessions/client-fields.js';
import { connectionRow } from '../../sessions/connection-row.js';
import type { SessionRegistry } from '../../sessions/session-registry.js';
import { BOTH_ERAS, type Backend, type EndpointDeps, type ProcessList } from '../backend.js';
import type { WrapRelay } from './wrap-relay.js';
import type { WrapTap } from './wrap-tap.js';

/** Options of a {@link WrapBackend}. */
export interface WrapBackendOptions {
  /** CMD as run (for the published `target`). */
  argv: readonly string[];
  relay: WrapRelay;
  tap: WrapTap;
  /** The connection's id, made at the wrapper's start. */
  sessionId: string;
  /** When the wrapper started (the row's `connectedAt`). */
  startedAt: Date;
  launchedBy: LaunchedBy | null;
  /** How often CMD's memory is read. */
  refreshMs: number;
  logger: Logger;
}

/** CMD while it lives, for the snapshot's `processes`. */
class WrapProcesses extends EventEmitter<{ change: [] }> implements ProcessList {
  #entry: SnapshotProcess | undefined;

  constructor(relay: WrapRelay, sessionId: string) {
    super();
    const id = relay.identity;
    if (!id) return;
    this.#entry = { ...id, sessionId };
    void relay.finished.then(() => {
      this.#entry = undefined;
      this.emit('change');
    });
  }

  list(): SnapshotProcess[] {
    return this.#entry ? [{ ...this.#entry }] : [];
  }
}

/** The stdio front: lists the one connection (see the file comment). */
export class WrapFront implements Endpoint {
  readonly endpoint = null;
  readonly #o: WrapBackendOptions;
  readonly #registry: SessionRegistry;
  /** The row's process, whose `rssBytes` the backend refreshes. */
  readonly process: ConnectionProcess | undefined;
  #row: Connection | undefined;
  #started = false;
  #closed = false;

  constructor(o: WrapBackendOptions, registry: SessionRegistry) {
    this.#o = o;
    this.#registry = registry;
    const pid = o.relay.pid;
    this.process = pid === undefined ? undefined : { pid, rssBytes: null };
  }

  /** Lists the connection with what the tap has seen so far, and follows the tap from now on. */
  async start(): Promise<null> {
    if (this.#started) throw new Error('WrapFront already started');
    this.#started = true;
    if (this.#closed) throw new Error('WrapFront closed before it started');
    const { tap, sessionId } = this.#o;
    const row = connectionRow(
      { sessionId, clientIP: null, userAgent: undefined, clientInfo: tap.clientInfo, protocolVersion: tap.protocolVersion, era: tap.era, method: tap.lastMethod, ...(this.process && { process: this.process }), transport: 'stdio', launchedBy: this.#o.launchedBy },
      this.#o.startedAt.toISOString(),
    );
    row.requestCount = tap.requestCount;
    row.lastActivity = (tap.lastActivity ?? this.#o.startedAt).toISOString();
    this.#row = row;
    // CMD may have gone while the writer was starting: then there is nothing to list.
    if (this.#o.relay.reason !== undefined && this.#o.relay.reason !== 'close') return null;
    this.#registry.add(row);
    tap.listen({
      activity: (method) => this.#registry.touch(sessionId, method === undefined ? undefined : boundText(method, METHOD_MAX)),
      identity: () => {
        row.clientInfo = boundClientInfo(tap.clientInfo);
        row.protocolVersion = boundProtocolVersion(tap.protocolVersion);
        row.era = tap.era;
        this.#registry.changed(sessionId);
      },
    });
    return null;
  }

  /** The connection ends (the relay ended, for `reason`); nothing more is followed. */
  end(reason: CloseReason): void {
    this.#o.tap.listen(undefined);
    this.#registry.remove(this.#o.sessionId, reason);
  }

  /** Ends the connection by ending CMD: its stdin closed, then SIGTERM, then SIGKILL (WrapRelay). */
  terminate(sessionId: string, by: string): boolean {
    if (sessionId !== this.#o.sessionId || !this.#registry.get(sessionId)) return false;
    this.#o.tap.listen(undefined);
    // Listed as ended at once: the client sees its server go, whatever CMD takes to exit.
    this.#registry.remove(sessionId, 'terminated', new Date(), undefined, by);
    this.#o.relay.terminate();
    return true;
  }

  /** The writer stops: the connection leaves its snapshot with the relay's reason, or `shutdown`. CMD runs on. */
  async close(): Promise<void> {
    this.#closed = true;
    this.end(this.#o.relay.reason ?? 'shutdown');
  }
}

/** The backend of `wrap` (see the file comment). */
export class WrapBackend implements Backend {
  readonly eras = BOTH_ERAS;
  readonly processes: WrapProcesses;
  readonly #o: WrapBackendOptions;
  readonly #published: PublishedBackend;
  #front: WrapFront | undefined;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #closing: Promise<void> | undefined;
  #refreshing = false;

  constructor(o: WrapBackendOptions) {
    this.#o = o;
    this.#published = { kind: 'wrap', target: joinCommandLine(o.argv) };
    this.processes = new WrapProcesses(o.relay, o.sessionId);
  }

  published(): PublishedBackend {
    return { ...this.#published };
  }

  endpoint(deps: EndpointDeps): WrapFront {
    if (this.#front) throw new Error('WrapBackend has one endpoint');
    this.#front = new WrapFront(this.#o, deps.registry);
    return this.#front;
  }

  /** The front, once made (wrap ends its connection through it). */
  get front(): WrapFront | undefined {
    return this.#front;
  }

  /** Starts reading CMD's memory (its whole group's RSS) every `refreshMs`, as `--command` does. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('WrapBackend already started');
    this.#started = true;
    if (this.#closing) return;
    this.#refresh();
    this.#timer = setInterval(() => this.#refresh(), this.#o.refreshMs).unref();
  }

  #refresh(): void {
    const proc = this.#front?.process;
    if (!proc || this.#refreshing) return;
    this.#refreshing = true;
    groupRssBytes(new Set([proc.pid]))
      .then((rss) => void (proc.rssBytes = rss.get(proc.pid) ?? null))
      .catch((err: Error) => this.#o.logger.warn({ err: err.message }, 'reading the memory of the wrapped server failed'))
      .finally(() => (this.#refreshing = false));
  }

  close(): Promise<void> {
    this.#closing ??= Promise.resolve().then(() => clearInterval(this.#timer));
    return this.#closing;
  }
}
