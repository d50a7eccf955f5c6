/**
 * Lines waiting to be appended to a journal, encoded into UTF-8 as they are queued: a writer that
 * queues a line per request keeps no string or object alive per request until its batch is
 * written (which, under load, the garbage collector would copy and promote), only bytes in a few
 * reused chunks outside the heap, and the size of each line.
 */

/** Bytes of one chunk; a longer line gets a chunk of its own size. */
const CHUNK_BYTES = 64 * 1024;

interface Chunk {
  buf: Buffer;
  /** Bytes of `buf` holding lines. */
  used: number;
}

/** A batch taken off a {@link LineQueue}: the lines' bytes, one after the other, and each line's size. */
export interface LineBatch {
  data: Buffer;
  sizes: number[];
}

/** A first-in first-out queue of whole lines as bytes; see the file comment. */
export class LineQueue {
  /** Oldest first; the last one is where lines are added. */
  #chunks: Chunk[] = [];
  /** Where the oldest line starts in the first chunk. */
  #readAt = 0;
  #sizes: number[] = [];

  /** Lines queued. */
  get length(): number {
    return this.#sizes.length;
  }

  /** Queues `text` (a whole line, its newline included). */
  push(text: string): void {
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    const worst = text.length * 3;
    let tail = this.#chunks.at(-1);
    if (tail === undefined || tail.used + worst > tail.buf.length) {
      tail = { buf: Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, worst)), used: 0 };
      this.#chunks.push(tail);
    }
    const n = tail.buf.write(text, tail.used);
    tail.used += n;
    this.#sizes.push(n);
  }

  /** Takes the oldest `max` lines at most (all of them when fewer are queued). */
  take(max: number): LineBatch {
    const sizes = this.#sizes.splice(0, max);
    let total = 0;
    for (const n of sizes) total += n;
    const data = Buffer.allocUnsafe(total);
    let at = 0;
    while (at < total) {
      const first = this.#chunks[0]!;
      const n = Math.min(total - at, first.used - this.#readAt);
      first.buf.copy(data, at, this.#readAt, this.#readAt + n);
      at += n;
      this.#readAt += n;
      if (this.#readAt === first.used) this.#drop(first);
    }
    return { data, sizes };
  }

  /** Forgets every queued line. */
  clear(): void {
    this.#chunks = [];
    this.#readAt = 0;
    this.#sizes = [];
  }

  /** `first`, the oldest chunk, has been read whole: the last one is kept for the next lines. */
  #drop(first: Chunk): void {
    this.#readAt = 0;
    if (this.#chunks.length > 1) this.#chunks.shift();
    else first.used = 0;
  }
}
