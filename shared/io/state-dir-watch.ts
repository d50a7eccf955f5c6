/**
 * The chokidar watch behind {@link StateDirReader}, in one of two ways.
 *
 * - `serverFiles` given (`tail`, which follows the journal too): the state directory and each
 *   server directory; a change of one of those files in a server directory is a change of that
 *   server.
 * - No `serverFiles` (the API, which reads only snapshots): the state directory (servers come
 *   and go) and the temp directory of each directory named like a server id, `<server>/.tmp/`
 *   (see TEMP_DIR), where the writer makes every snapshot before renaming it over
 *   `snapshot.json`. A server directory is not watched: its journals grow on every request,
 *   and chokidar lists a watched directory (a stat per entry) on each of its events, so a fleet
 *   of 100 servers at rest cost the API twice the CPU (bench/fleet.ts) and a busy server woke it
 *   on every journal line. A snapshot replaced by anything but the writer (a copy by hand, a
 *   writer of an earlier build) is found by the reader's slow check.
 *
 * The changes come from chokidar's `raw` events: every fs.watch event of a watched directory,
 * unthrottled; a watch on each file goes deaf after quick atomic renames (see the reader).
 */
import path from 'node:path';
import { lstat, readdir } from 'node:fs/promises';
import { watch, type FSWatcher } from 'chokidar';
import { SERVER_ID_RE, SNAPSHOT_TEMP_RE, TEMP_DIR, tempDirPath } from '../paths.js';

export interface StateDirWatchOptions {
  stateDir: string;
  /** Names in a server directory whose changes mean "read this server again"; see the module comment. */
  serverFiles?: readonly string[];
  persistent: boolean;
  /**
   * An event of a server: `file`, one of `serverFiles` changed; `temp`, a temp file of its
   * snapshot came or went (the rename is the one that matters: the reader looks at the file).
   */
  onChange: (serverId: string, via: 'file' | 'temp') => void;
  /** A directory named like a server id appeared in the state directory. */
  onServerDir: (serverId: string) => void;
  onError: (err: Error) => void;
}

export class StateDirWatch {
  readonly #o: StateDirWatchOptions;
  readonly #watcher: FSWatcher;
  /** The `.tmp/` watched of each server (without `serverFiles`): its device, inode and birth time. */
  readonly #temps = new Map<string, string>();
  #closed = false;
  readonly #ready: Promise<void>;

  /** Starts watching at once; {@link ready} tells when chokidar has looked. */
  constructor(options: StateDirWatchOptions) {
    this.#o = options;
    const stateDir = options.stateDir;
    const files = options.serverFiles;
    this.#watcher = watch(stateDir, {
      depth: files ? 1 : 0,
      ignoreInitial: true,
      persistent: options.persistent,
      ignored: files ? serverDirsIgnored(stateDir) : tempDirsIgnored(stateDir),
    });
    // `name` is relative to `watchedPath` (null when the OS gives none).
    this.#watcher.on('raw', (event, name, opts) => {
      const dir = (opts as { watchedPath?: string } | undefined)?.watchedPath;
      if (!dir || typeof name !== 'string') return;
      const parts = relativeParts(stateDir, dir);
      if (parts.length !== (files ? 1 : 2) || !SERVER_ID_RE.test(parts[0]!)) return;
      if (files) {
        if (files.includes(name)) options.onChange(parts[0]!, 'file');
      } else if (parts[1] === TEMP_DIR && SNAPSHOT_TEMP_RE.test(name)) {
        // `rename`: made, or renamed away (a `change` is the write between: nothing to read).
        if (event === 'rename') options.onChange(parts[0]!, 'temp');
      } else if (parts[1] === TEMP_DIR && name === TEMP_DIR) {
        // The watched directory itself was removed or moved: its watch hears nothing more.
        this.#forget(parts[0]!);
      }
    });
    this.#watcher.on('addDir', (p: string) => {
      const id = path.relative(stateDir, p);
      if (!SERVER_ID_RE.test(id)) return;
      void this.followTemp(id);
      options.onServerDir(id);
    });
    this.#watcher.on('error', (err) => options.onError(err instanceof Error ? err : new Error(String(err))));
    this.#ready = new Promise<void>((resolve) => this.#watcher.once('ready', () => resolve()));
  }

  /** Resolves once chokidar is ready, or when `closing` resolves first (close cancels the wait). */
  ready(closing: Promise<void>): Promise<void> {
    return Promise.race([this.#ready, closing]);
  }

  /**
   * {@link followTemp} for every directory named like a server id whose `.tmp/` is not watched:
   * what the reader's check calls. A server directory that had no `.tmp/` when it appeared (its
   * writer had not made it yet), or whose `.tmp/` was removed, is watched from then on. (A
   * watched one is not looked at: its removal is an event of its own watch.)
   */
  async followTemps(): Promise<void> {
    if (this.#o.serverFiles || this.#closed) return;
    const names = await readdir(this.#o.stateDir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => SERVER_ID_RE.test(n) && !this.#temps.has(n)).map((id) => this.followTemp(id)));
  }

  /**
   * Watches the temp directory of `serverId` when it exists and is not watched yet, or is
   * another directory than the one watched (removed and made again: the old watch hears nothing
   * more, and chokidar says nothing of it). Without `serverFiles` only; a stat per call.
   * chokidar's watch is in place soon after: a write before that is found by the next check.
   */
  async followTemp(serverId: string): Promise<void> {
    if (this.#o.serverFiles || this.#closed) return;
    const dir = tempDirPath(this.#o.stateDir, serverId);
    const watched = this.#temps.get(serverId);
    // lstat: a link planted at `.tmp` is no temp directory of the writer's (which replaces it).
    const st = await lstat(dir).catch(() => undefined);
    // Birth time too: a directory made again often gets the inode just freed.
    const id = st?.isDirectory() ? `${st.dev}:${st.ino}:${st.birthtimeMs}` : undefined;
    // Another call decided meanwhile; after close, chokidar's add() would open the watcher again.
    if (id === watched || this.#temps.get(serverId) !== watched || this.#closed) return;
    if (watched !== undefined) this.#watcher.unwatch(dir);
    if (id === undefined) {
      this.#temps.delete(serverId);
      return;
    }
    this.#temps.set(serverId, id);
    this.#watcher.add(dir);
  }

  #forget(serverId: string): void {
    if (!this.#temps.delete(serverId) || this.#closed) return;
    this.#watcher.unwatch(tempDirPath(this.#o.stateDir, serverId));
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.#watcher.close();
  }
}

/** Keeps the state dir, the server dirs and, inside them, nothing: their files' changes come as `raw` events. */
function serverDirsIgnored(stateDir: string): (p: string) => boolean {
  return (p) => {
    const parts = relativeParts(stateDir, p);
    return parts.length > 0 && (parts.length > 1 || !SERVER_ID_RE.test(parts[0]!));
  };
}

/** Keeps the state dir, the server dirs (seen, not watched: depth 0) and their `.tmp/`, and nothing inside it. */
function tempDirsIgnored(stateDir: string): (p: string) => boolean {
  return (p) => {
    const parts = relativeParts(stateDir, p);
    if (parts.length === 0) return false;
    if (!SERVER_ID_RE.test(parts[0]!)) return true;
    return parts.length > 2 || (parts.length === 2 && parts[1] !== TEMP_DIR);
  };
}

function relativeParts(stateDir: string, p: string): string[] {
  const rel = path.relative(stateDir, p);
  return rel === '' ? [] : rel.split(path.sep);
}
