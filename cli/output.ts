/**
 * Where the CLI writes: data to stdout, diagnostics to stderr; the terminal width for tables and
 * colour only on a terminal (and never with NO_COLOR set).
 */
import type { VerdictState } from '../shared/verdict.js';

export interface Output {
  /** Writes data lines to stdout. */
  out: (text: string) => void;
  /** Writes one diagnostic line to stderr, prefixed with the command. */
  warn: (text: string) => void;
  /** Terminal width, or undefined when stdout is not a terminal. */
  columns: number | undefined;
  color: boolean;
}

/** The output of the command `name` on this process's stdout and stderr. */
export function processOutput(name: string, env: Record<string, string | undefined> = process.env): Output {
  const tty = process.stdout.isTTY === true;
  return {
    out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    // Diagnostics quote file contents (a client's strings among them): never raw control bytes.
    warn: (text) => void process.stderr.write(`mcp-monitor ${name}: ${printable(text)}\n`),
    columns: tty ? process.stdout.columns || 80 : undefined,
    color: tty && !env.NO_COLOR && env.TERM !== 'dumb',
  };
}

const SHORT: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

/**
 * `text` safe for a terminal: C0 controls, DEL and C1 controls escaped as JSON.stringify
 * escapes C0 (`\n`, `\u001b`, `\u009b`), everything else as is. Every string a client could
 * have chosen (clientInfo, User-Agent, session id, anything read from a state file) goes through
 * it before it is printed: a raw ESC could set the title, clear the screen or write the
 * clipboard (OSC 52).
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const CODES = { green: 32, yellow: 33, red: 31, dim: 2, bold: 1 } as const;
export type Color = keyof typeof CODES;

/** `text` in `color` when colour is on. */
export function paint(output: Pick<Output, 'color'>, text: string, color: Color | undefined): string {
  return output.color && color ? `\u001b[${CODES[color]}m${text}\u001b[0m` : text;
}

/** The colour of a verdict. */
export function verdictColor(state: VerdictState | string): Color | undefined {
  return state === 'running' ? 'green' : state === 'stopped' ? 'yellow' : state === 'stale' || state === 'invalid' ? 'red' : undefined;
}

/** An ISO time without its milliseconds, for tables: `2026-11-24T10:00:05Z`. */
export function shortTime(iso: string | null | undefined): string {
  return iso ? iso.replace(/\.\d+Z$/, 'Z') : '-';
}
