/**
 * The log of `wrap`: `<state>/<serverId>/wrap.log` (0600, never through a symbolic link), rotated
 * before it would pass {@link WRAP_LOG_MAX_BYTES} into `wrap.1.log` (one old file). A wrapper
 * writes nothing to stdout but the relayed bytes and nothing to stderr but CMD's and one line
 * of its own, so its log has to go here. A pino destination: lines are queued and written in
 * order off the relay's path; before the file is known (the server id is chosen after CMD
 * started) they wait in the queue; past {@link QUEUE_MAX_BYTES} waiting, lines are dropped and
 * counted. A failing write (a full disk) drops what it held; logging never stops the relay.
 */
import { constants } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { FILE_MODE } from '../../../shared/paths.js';

/** Where the log rotates. */
export const WRAP_LOG_MAX_BYTES = 1024 * 1024;
/** Bytes of lines waiting to be written at most. */
const QUEUE_MAX_BYTES = 256 * 1024;

/** The log's file name, and that of its one old file. */
export const WRAP_LOG_FILE = 'wrap.log';
export const WRAP_LOG_OLD_FILE = 'wrap.1.log';

export class WrapLogFile {
  readonly #maxBytes: number;
  #queue: string[] = [];
  #queued = 0;
  #file: string | undefined;
  #old = '';
  #handle: FileHandle | undefined;
  #size = 0;
  #draining: Promise<void> | undefined;
  #closed = false;
  /** Lines dropped (queue full, a failed write, or never opened). */
  dropped = 0;

  constructor(maxBytes = WRAP_LOG_MAX_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** pino's destination interface: one serialized line. */
  write(line: string): void {
    if (this.#closed) return;
    if (this.#queued + line.length > QUEUE_MAX_BYTES) {
      this.dropped += 1;
      return;
    }
    this.#queue.push(line);
    this.#queued += line.length;
    this.#kick();
  }

  /** Writes from now on to `file` (its old file beside it); rejects when it cannot be opened. */
  async open(file: string, oldFile: string): Promise<void> {
    this.#handle = await this.#openFile(file);
    this.#file = file;
    this.#old = oldFile;
    this.#size = (await this.#handle.stat()).size;
    this.#kick();
  }

  async #openFile(file: string): Promise<FileHandle> {
    return open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
  }

  #kick(): void {
    if (!this.#handle || this.#draining) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      if (this.#queue.length > 0 && this.#handle) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && this.#handle) {
      try {
        if (this.#size > 0 && this.#size + Buffer.byteLength(this.#queue[0]!) > this.#maxBytes) await this.#rotate();
      } catch {
        // The rename or the reopen failed: lines wait (and past the queue's bound are dropped).
        return;
      }
      // As many lines as fit before the next rotation, at least one.
      const room = this.#maxBytes - this.#size;
      const batch: string[] = [];
      let bytes = 0;
      while (this.#queue.length > 0) {
        const n = Buffer.byteLength(this.#queue[0]!);
        if (batch.length > 0 && bytes + n > room) break;
        const next = this.#queue.shift()!;
        this.#queued -= next.length;
        batch.push(next);
        bytes += n;
      }
      try {
        await this.#handle!.write(batch.join(''));
        this.#size += bytes;
      } catch {
        // ENOSPC, EIO: these lines are lost; the next ones try again.
        this.dropped += batch.length;
      }
    }
  }

  async #rotate(): Promise<void> {
    await this.#handle!.close();
    this.#handle = undefined;
    // rename() replaces a link planted at the old file's name itself, never what it points to.
    await rename(this.#file!, this.#old).catch(() => undefined);
    this.#handle = await this.#openFile(this.#file!);
    this.#size = (await this.#handle.stat()).size;
  }

  /** Writes what is queued (if the file is open) and closes it. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#draining) await this.#draining;
    await this.#handle?.close().catch(() => undefined);
    this.#handle = undefined;
  }
}
