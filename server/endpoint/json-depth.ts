/**
 * A bound on how deeply a request's JSON may nest. JSON.parse takes any depth, but code that
 * walks the value recursively (the SDKs' schema checks among it) overflows the stack near
 * 10 000 levels and answers 500. No MCP message needs more than a few dozen levels; serde_json,
 * which many Rust servers use, stops at 128.
 */

/** Deepest nesting of arrays and objects a request may have: 1000. Deeper: 400. */
export const MAX_JSON_DEPTH = 1000;

/** Whether `value` nests arrays and objects deeper than `max`, found without recursion. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
