/**
 * Splits a byte stream into lines of at most `max` bytes without holding more than that: a longer
 * line is skipped whole (`onTooLong` once), never buffered. Lines are the bytes between newlines,
 * without the newline; a last part without one is held until its newline comes. Used where a
 * stdio program's output is read as newline-delimited JSON-RPC (server/backends/command/,
 * server/backends/wrap/).
 */
export class LineSplitter {
  #chunks: Buffer[] = [];
  #length = 0;
  #skipping = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onTooLong: () => void,
  ) {}

  push(data: Buffer): void {
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      this.#take(data.subarray(start, nl), true);
      start = nl + 1;
    }
    if (start < data.length) this.#take(data.subarray(start), false);
  }

  #take(part: Buffer, ends: boolean): void {
    if (!this.#skipping) {
      if (this.#length + part.length > this.max) {
        this.#skipping = true;
        this.#chunks = [];
        this.#length = 0;
        this.onTooLong();
      } else if (part.length > 0) {
        this.#chunks.push(part);
        this.#length += part.length;
      }
    }
    if (!ends) return;
    if (!this.#skipping && this.#length > 0) this.onLine(this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length));
    this.#chunks = [];
    this.#length = 0;
    this.#skipping = false;
  }
}

