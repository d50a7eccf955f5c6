/**
 * Which connection a modern (2026-07-28) request belongs to. A sessionless request carries no
 * session id to its tool handlers, only the web `Request` the handler built (`ctx.http.req`);
 * the host links that `Request` to the connection id of its client here. WeakMaps: an entry
 * lives exactly as long as its request objects, and nothing here needs AsyncLocalStorage
 * (the `Request` object itself is the key).
 */

/** What the host knows of one modern request while it is served. */
export interface ModernRequest {
  /** The `m-…` connection id of its client, or null when the client is not listed (past the cap). */
  connectionId: string | null;
  /** Called with every JSON-RPC response the per-request server sends (the operation's outcome). */
  onResponse: (message: unknown) => void;
}

/** Links the parsed body of a modern request, then its web `Request`, to what the host knows of it. */
export class ModernCallers {
  readonly #byBody = new WeakMap<object, ModernRequest>();
  readonly #byRequest = new WeakMap<object, ModernRequest>();

  /** At arrival: `body` is Express's parsed body, the very object the SDK handler is given. */
  arrive(body: object, request: ModernRequest): void {
    this.#byBody.set(body, request);
  }

  /** When the SDK handler gets its web `Request` for `parsedBody`. */
  link(webRequest: object, parsedBody: unknown): void {
    if (typeof parsedBody !== 'object' || parsedBody === null) return;
    const r = this.#byBody.get(parsedBody);
    if (r) this.#byRequest.set(webRequest, r);
  }

  /** What is known of the request whose web `Request` is `webRequest` (a factory's `ctx.requestInfo`, a tool's `ctx.http.req`). */
  get(webRequest: unknown): ModernRequest | undefined {
    return typeof webRequest === 'object' && webRequest !== null ? this.#byRequest.get(webRequest) : undefined;
  }
}
