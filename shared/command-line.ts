/**
 * `--command`: a command line split into the program and its arguments:
 * on spaces, `"…"` and `'…'` quote (the quotes go, what is between them stays as it is), no
 * shell, so no variables, globs, pipes or escapes. Split once, at parse time, so that a bad
 * line stops the program at start (exit 2) and never when the first client comes.
 */

/** Why a command line cannot be split, for the one-line usage error. */
export class CommandLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandLineError';
  }
}

/** `npx -y "my server" 'a b'` → `['npx', '-y', 'my server', 'a b']`. Throws {@link CommandLineError}. */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new CommandLineError(`an unclosed ${quote} quote`);
  if (inWord) words.push(word);
  if (words.length === 0) throw new CommandLineError('no program to run');
  if (words.some((w) => w.includes('\0'))) throw new CommandLineError('a NUL character');
  return words;
}

/**
 * The inverse of {@link splitCommandLine}: one line that splits back into exactly `words`
 * (a config file's `command` array reaches the child as one `--command` string). A word
 * without spaces or quotes stays bare; any other is quoted, `'…'` around its `"` and `"…"`
 * around the rest, the pieces side by side so that they make one word (there are no escapes).
 */
export function joinCommandLine(words: readonly string[]): string {
  return words.map(quoteWord).join(' ');
}

function quoteWord(word: string): string {
  if (word !== '' && !/[\s"']/.test(word)) return word;
  if (word === '') return '""';
  // Runs of `"` go in single quotes, everything else in double quotes (a `'` is plain there).
  return word.split(/("+)/).filter((piece) => piece !== '').map((piece) => (piece.startsWith('"') ? `'${piece}'` : `"${piece}"`)).join('');
}
