/**
 * Plain-text tables for the terminal: columns padded to their widest cell and, when the output
 * has a width (a terminal), the widest columns cut with `…` until the table fits.
 */
import type { printable } from './output.js';

export interface TableOptions {
  /** Width to fit in; undefined = no limit (not a terminal: keep every character for grep). */
  width?: number;
  /** Columns that may be cut to fit, by index, the first cut first; default every column, last first. */
  shrinkable?: number[];
  /** Narrowest a cut column gets. Default 6. */
  minWidth?: number;
  /** Turns a cell into its painted form (colour) after padding; the width counts the plain text. */
  paint?: (text: string, row: number, column: number) => string;
}

const GAP = 2;

/** Width of a cell: its code points (a surrogate pair is one character). */
function len(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/**
 * `text` cut to `width` code points with `…`: never inside a surrogate pair. Cells are made
 * {@link printable} before they get here, so a cut can only split the text of an escape, never
 * an escape sequence itself.
 */
export function cut(text: string, width: number): string {
  if (len(text) <= width) return text;
  return `${[...text].slice(0, Math.max(0, width - 1)).join('')}…`;
}

/**
 * Renders a header and rows as lines (each without a newline), fitted to `options.width`.
 * Cells must be {@link printable} already: a control character would break the layout.
 */
export function renderTable(headers: string[], rows: string[][], options: TableOptions = {}): string[] {
  const n = headers.length;
  const widths = headers.map((h, i) => Math.max(len(h), ...rows.map((r) => len(r[i] ?? ''))));
  const { width } = options;
  if (width !== undefined && width > 0) {
    const min = options.minWidth ?? 6;
    let excess = widths.reduce((a, b) => a + b, 0) + GAP * (n - 1) - width;
    // Cut the columns in the order given, each down to `min`, until the table fits.
    for (const i of options.shrinkable ?? headers.map((_, j) => n - 1 - j)) {
      if (excess <= 0) break;
      const give = Math.min(excess, Math.max(0, widths[i]! - Math.max(min, len(headers[i]!))));
      widths[i] = widths[i]! - give;
      excess -= give;
    }
  }
  const line = (cells: string[], row: number) =>
    cells
      .map((c, i) => {
        const text = cut(c, widths[i]!);
        const padded = i === n - 1 ? text : text + ' '.repeat(Math.max(0, widths[i]! - len(text)));
        return options.paint && row >= 0 ? options.paint(padded, row, i) : padded;
      })
      .join(' '.repeat(GAP))
      .trimEnd();
  return [line(headers, -1), ...rows.map((r, i) => line(r, i))];
}
