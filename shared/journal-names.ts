/**
 * The names of a journal rotated by size: the current file (`events.jsonl`) and its rotated
 * files beside it, `events.1.jsonl` (newest) … `events.N.jsonl` (oldest). The event journal and
 * the calls journal (`calls.jsonl`) rotate alike; this is the one place that knows the pattern,
 * for their writers (server/publish/rotating-file.ts) and every reader. Pure.
 */
import { CALLS_FILE, JOURNAL_FILE } from './paths.js';

export class JournalNames {
  /** The current file's name, e.g. `events.jsonl`. */
  readonly current: string;
  readonly #stem: string;
  readonly #rotated: RegExp;

  /** `current` ends in `.jsonl`. */
  constructor(current: string) {
    if (!current.endsWith('.jsonl')) throw new Error(`A journal name ends in .jsonl: ${JSON.stringify(current)}`);
    this.current = current;
    this.#stem = current.slice(0, -'.jsonl'.length);
    this.#rotated = new RegExp(`^${this.#stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.jsonl$`);
  }

  /** The current file for 0, the rotated file `<stem>.<n>.jsonl` for n ≥ 1. */
  file(n: number): string {
    return n === 0 ? this.current : `${this.#stem}.${n}.jsonl`;
  }

  /** The number of a rotated file's name (≥ 1), else undefined (the current file and other names alike). */
  rotatedNumber(name: string): number | undefined {
    const m = this.#rotated.exec(name);
    const n = m ? Number(m[1]) : 0;
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  }

  /** The journal's files among `names` (a directory listing), oldest first: `<stem>.N.jsonl` … `<stem>.1.jsonl`, the current file last. */
  oldestFirst(names: readonly string[]): string[] {
    const rotated = names.flatMap((name) => {
      const n = this.rotatedNumber(name);
      return n === undefined ? [] : [{ n, name }];
    });
    rotated.sort((a, b) => b.n - a.n);
    const files = rotated.map((r) => r.name);
    if (names.includes(this.current)) files.push(this.current);
    return files;
  }
}

/** The event journal: `events.jsonl` (shared/journal.ts). */
export const EVENT_JOURNAL = new JournalNames(JOURNAL_FILE);

/** The calls journal: `calls.jsonl` (shared/calls.ts). */
export const CALLS_JOURNAL = new JournalNames(CALLS_FILE);
