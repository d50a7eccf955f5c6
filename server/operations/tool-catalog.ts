/**
 * The server's tool catalog (the snapshot's `catalog`, shared/tool-catalog.ts), learnt from the
 * `tools/list` answers that pass in any backend, for any client: a {@link RequestObserver} told
 * each page with the cursor its request asked for and the connection it was answered on.
 *
 * Paging, per connection: a page asked for without a cursor starts a listing; a page whose
 * request's cursor is the `nextCursor` of that connection's listing adds to it (any other cursor
 * is ignored); the page without a `nextCursor` completes it, and the completed listing REPLACES
 * the catalog. A listing never completed never replaces it, so a client that reads only the first
 * page of a paginated list cannot shrink the catalog.
 *
 * Everything here came from a server, through clients' requests: it is bounded. A page that is
 * not an object with a `tools` array is ignored, and so is an entry that is not an object with a
 * string `name`; names are cut to {@link TOOL_NAME_MAX} characters without control characters,
 * each kept once; at most {@link MAX_CATALOG_TOOLS} tools (the rest only counted); cursors are
 * kept as digests; at most {@link MAX_PENDING_LISTINGS} listings under way (the oldest forgotten).
 *
 * The catalog also answers the OperationRecorder's `knownName` hook for `tools/call`: once a
 * catalog is known, a name it does not list counts under `_OTHER` (docs/state-directory.md).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MAX_CATALOG_TOOLS, TOOL_NAME_MAX, type Catalog, type CatalogTool } from '../../shared/tool-catalog.js';
import { isObject } from '../../shared/validate.js';
import { boundText } from '../sessions/client-fields.js';
import type { RequestObserver, ToolsPage } from './finished-request.js';
import type { KnownName } from './operation-recorder.js';

/** Listings under way at once (one per connection); past it the oldest is forgotten. */
export const MAX_PENDING_LISTINGS = 32;

/** One listing under way: what its pages showed so far. */
interface Listing {
  tools: CatalogTool[];
  names: Set<string>;
  totalBytes: number;
  omitted: number;
  /** Digest of the `nextCursor` of its last page: the cursor its next page must be asked with. */
  next: string;
}

interface CatalogEvents {
  /** A listing completed and replaced the catalog. */
  change: [];
}

/** A cursor of any length as 43 characters: what a pending listing keeps of it. */
function digest(cursor: string): string {
  return createHash('sha256').update(cursor).digest('base64url');
}

/** UTF-8 bytes of `tool` as `JSON.stringify` writes it; undefined when it cannot be written (a cycle, a BigInt). */
function definitionBytes(tool: object): number | undefined {
  try {
    const text = JSON.stringify(tool) as string | undefined;
    return text === undefined ? undefined : Buffer.byteLength(text, 'utf8');
  } catch {
    // A hosted server's own object that no transport could send either: not a tool of the list.
    return undefined;
  }
}

/** The tool catalog of one writer; see the file comment. */
export class ToolCatalog extends EventEmitter<CatalogEvents> implements RequestObserver {
  #current: Catalog | null = null;
  #names: ReadonlySet<string> = new Set();
  /** By connection (`sessionId`, null for none listed), oldest first. */
  readonly #pending = new Map<string | null, Listing>();

  /**
   * The OperationRecorder's hook: for `tools/call`, whether the catalog lists `name` (as the
   * recorder bounds it: the same cut and controls as here); undefined while no catalog is known,
   * for a name past a catalog cut at {@link MAX_CATALOG_TOOLS} (it may be one of the tools left
   * out), and for other methods (prompts keep the answers' rule).
   */
  readonly knownName: KnownName = (method, name) => {
    if (method !== 'tools/call' || this.#current === null) return undefined;
    if (this.#names.has(name)) return true;
    return this.#current.omitted ? undefined : false;
  };

  /** The catalog as the snapshot holds it, null until a listing completed. Never changed in place: a new listing replaces it. */
  current(): Catalog | null {
    return this.#current;
  }

  /**
   * Continues from the catalog of a previous writer of this server id (carried over like
   * `operations`). Call once, before any page is told.
   */
  carryOver(previous: Catalog | null | undefined): void {
    if (!previous) return;
    this.#current = { ...previous, tools: previous.tools.map((t) => ({ ...t })) };
    this.#names = new Set(previous.tools.map((t) => t.name));
  }

  /** Requests that ended teach the catalog nothing; only their answers' pages do. */
  finished(): void {}

  /** One `tools/list` answer page passed (see the file comment for the paging rules). */
  toolsListed(page: ToolsPage): void {
    const { result, cursor, sessionId } = page;
    if (!isObject(result) || !Array.isArray(result.tools)) return;
    let listing: Listing | undefined;
    if (cursor === undefined) listing = { tools: [], names: new Set(), totalBytes: 0, omitted: 0, next: '' };
    else if (typeof cursor === 'string') listing = this.#pending.get(sessionId);
    if (!listing || (cursor !== undefined && listing.next !== digest(cursor))) return;
    // Taken out and put back at the end: the map stays in order of last use.
    this.#pending.delete(sessionId);
    add(listing, result.tools);
    const next = result.nextCursor;
    if (typeof next === 'string') {
      listing.next = digest(next);
      this.#pending.set(sessionId, listing);
      for (const oldest of this.#pending.keys()) {
        if (this.#pending.size <= MAX_PENDING_LISTINGS) break;
        this.#pending.delete(oldest);
      }
      return;
    }
    this.#current = { tools: listing.tools, totalBytes: listing.totalBytes, seenAt: new Date().toISOString(), ...(listing.omitted > 0 && { omitted: listing.omitted }) };
    this.#names = listing.names;
    this.emit('change');
  }
}

/** Adds the tools of one page to `listing`, bounded (see the file comment). */
function add(listing: Listing, tools: unknown[]): void {
  for (const t of tools) {
    if (!isObject(t) || typeof t.name !== 'string') continue;
    const name = boundText(t.name, TOOL_NAME_MAX) ?? '';
    if (listing.names.has(name)) continue;
    if (listing.tools.length >= MAX_CATALOG_TOOLS) {
      listing.omitted += 1;
      continue;
    }
    const bytes = definitionBytes(t);
    if (bytes === undefined) continue;
    listing.names.add(name);
    listing.tools.push({ name, bytes });
    listing.totalBytes += bytes;
  }
}
