/**
 * Where a JSON text goes wrong, as a line and a column, for a one-line error about a file the
 * user wrote. `JSON.parse` of Node 20 gives a position for some mistakes and, for an unexpected
 * token, quotes the text instead; this scanner finds the offset itself. It is only a validator
 * (no values are built), iterative so that deep nesting cannot overflow the stack.
 */

/** The 1-based line and column of the first syntax error of `text`, and what was found there; undefined for valid JSON. */
export function jsonSyntaxError(text: string): { line: number; column: number; found: string } | undefined {
  const offset = firstErrorOffset(text);
  if (offset === undefined) return undefined;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  const found = offset >= text.length ? 'end of file' : JSON.stringify(text[offset]);
  return { line, column, found };
}

const WS = new Set([' ', '\t', '\n', '\r']);
const NUMBER_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING_RE = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/** Offset of the first character that cannot continue a JSON text, or undefined if it is valid. */
function firstErrorOffset(text: string): number | undefined {
  let i = 0;
  const skip = () => {
    while (i < text.length && WS.has(text[i]!)) i += 1;
  };
  // What each open container expects next: a value, a key, a colon, or a comma/close.
  const stack: ('[' | '{')[] = [];
  let expect: 'value' | 'key' | 'colon' | 'next' | 'value-or-close' | 'key-or-close' = 'value';
  for (;;) {
    skip();
    if (i >= text.length) return expect === 'next' && stack.length === 0 ? undefined : i;
    const ch = text[i]!;
    if (expect === 'next') {
      const top = stack.at(-1);
      if (top === undefined) return i;
      if (ch === ',') {
        expect = top === '[' ? 'value' : 'key';
        i += 1;
      } else if ((ch === ']' && top === '[') || (ch === '}' && top === '{')) {
        stack.pop();
        i += 1;
      } else return i;
      continue;
    }
    if (expect === 'colon') {
      if (ch !== ':') return i;
      expect = 'value';
      i += 1;
      continue;
    }
    if (expect === 'key' || expect === 'key-or-close') {
      if (ch === '}' && expect === 'key-or-close') {
        stack.pop();
        expect = 'next';
        i += 1;
        continue;
      }
      if (ch !== '"') return i;
      const end = match(STRING_RE, text, i);
      if (end === undefined) return stringErrorOffset(text, i);
      i = end;
      expect = 'colon';
      continue;
    }
    // A value (or, right after `[`, a close).
    if (ch === ']' && expect === 'value-or-close') {
      stack.pop();
      expect = 'next';
      i += 1;
    } else if (ch === '[' || ch === '{') {
      stack.push(ch);
      expect = ch === '[' ? 'value-or-close' : 'key-or-close';
      i += 1;
    } else if (ch === '"') {
      const end = match(STRING_RE, text, i);
      if (end === undefined) return stringErrorOffset(text, i);
      i = end;
      expect = 'next';
    } else {
      const literal = ['true', 'false', 'null'].find((w) => text.startsWith(w, i));
      const end = literal ? i + literal.length : match(NUMBER_RE, text, i);
      if (end === undefined) return i;
      i = end;
      expect = 'next';
    }
  }
}

function match(re: RegExp, text: string, at: number): number | undefined {
  re.lastIndex = at;
  return re.test(text) ? re.lastIndex : undefined;
}

/** Inside a bad string: the first character that cannot be in it (a control character, a bad escape, or the end). */
function stringErrorOffset(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') return i;
    if (c < ' ') return i;
    if (c === '\\') {
      const e = text[i + 1];
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return i;
        i += 6;
        continue;
      }
      if (e === undefined || !'"\\/bfnrt'.includes(e)) return i;
      i += 2;
      continue;
    }
    i += 1;
  }
  return i;
}
