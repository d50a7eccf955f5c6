/**
 * One clock for every process of the bench: CLOCK_MONOTONIC through `process.hrtime`, which on
 * Linux is the same system-wide, so times taken in two processes can be subtracted.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `fn` until it returns something truthy; throws after `timeoutMs`. */
export async function waitUntil<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string, everyMs = 5): Promise<T> {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (nowMs() > deadline) throw new Error(`bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
