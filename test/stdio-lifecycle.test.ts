/**
 * Lifecycle of the `--command` objects, from the source: `start()` twice throws, `close()`
 * returns the same promise, `close()` during `start()` leaves nothing running; the stop
 * sequence (stdin closed, then SIGTERM, then SIGKILL); the rate limiter's monotonic window.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandServers } from '../server/backends/command/command-backend.js';
import { RateLimitedLog } from '../server/endpoint/rate-limited-log.js';
import { StdioProcess } from '../server/backends/command/stdio-process.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { isAlive } from './helpers/processes.js';

const log = pino({ level: 'silent' });
const procs: StdioProcess[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.close()));
});
function proc(script: string): StdioProcess {
  const p = new StdioProcess([process.execPath, '-e', script], log);
  procs.push(p);
  return p;
}

describe('StdioProcess lifecycle', () => {
  it('start() twice throws', async () => {
    const p = proc('process.stdin.resume()');
    await p.start();
    await expect(p.start()).rejects.toThrow(/already started/);
  });

  it('close() returns the same promise every time', async () => {
    const p = proc('process.stdin.resume()');
    await p.start();
    const a = p.close();
    expect(p.close()).toBe(a);
    expect(p.stop()).toBe(a);
    await a;
  });

  it('close() during start() leaves nothing running', async () => {
    const p = proc('process.stdin.resume()');
    const starting = p.start();
    const closing = p.close();
    await starting;
    await closing;
    expect(p.exit).toBeDefined();
    expect(isAlive(p.pid!)).toBe(false);
  });

  it('ends by closing stdin first: a server that exits on EOF is never signalled', async () => {
    const p = proc('process.stdin.resume(); process.stdin.on("end", () => process.exit(7))');
    await p.start();
    const exit = await p.close();
    expect(exit).toMatchObject({ code: 7, signal: null });
  });

  it('then SIGTERM 2 s later, then SIGKILL 3 s after that', async () => {
    const p = proc('process.on("SIGTERM", () => {}); process.stdin.on("end", () => {}); process.stdin.resume(); setInterval(() => {}, 1000)');
    await p.start();
    const t0 = performance.now();
    const exit = await p.close();
    const took = performance.now() - t0;
    expect(exit.signal).toBe('SIGKILL');
    expect(took).toBeGreaterThanOrEqual(4900);
    await expect(p.exited).resolves.toBe(exit);
  }, 15_000);
});

describe('CommandServers lifecycle', () => {
  const make = () => new CommandServers({ command: 'true', registry: new SessionRegistry(), logger: log, refreshMs: 50 });
  it('start() twice throws', async () => {
    const b = make();
    await b.start();
    await expect(b.start()).rejects.toThrow(/already started/);
    await b.close();
  });
  it('close() returns the same promise every time and stops its timer', async () => {
    const b = make();
    await b.start();
    expect(b.running).toBe(true);
    const a = b.close();
    expect(b.close()).toBe(a);
    await a;
    expect(b.running).toBe(false);
  });
  it('close() during start() leaves nothing running', async () => {
    const b = make();
    const closing = b.close();
    await b.start();
    await closing;
    expect(b.running).toBe(false);
  });
});

describe('RateLimitedLog', () => {
  it('lets N a window through, then summarises the dropped on the monotonic clock', () => {
    let now = 0;
    const dropped: number[] = [];
    const limit = new RateLimitedLog({ perMinute: 2, onDropped: (n) => dropped.push(n), clock: () => now });
    expect([limit.allow(), limit.allow(), limit.allow(), limit.allow()]).toEqual([true, true, false, false]);
    now = 59_999;
    expect(limit.allow()).toBe(false);
    now = 60_000;
    expect(limit.allow()).toBe(true);
    expect(dropped).toEqual([3]);
  });
});
