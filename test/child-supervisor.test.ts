/**
 * `ChildSupervisor` in process, with children that cannot be spawned: a missing binary (ENOENT, as
 * after an upgrade of a versioned node path), a file that is not executable (EACCES), and an
 * argument too long for execve (E2BIG, which Node throws synchronously, in the backoff timer on a
 * restart). Each is a failed start: backoff, then `fatal`; `close()` resolves. And the API's token
 * never reaches the child (the user's `--entry` code must not read it).
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ChildSupervisor, type ChildExit, type ChildState, type ChildSupervisorOptions } from '../api/child-supervisor.js';
import type { Snapshot } from '../shared/snapshot.js';
import { waitFor } from './helpers/wait-for.js';

const supervisors: ChildSupervisor[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A supervisor with small backoff and the records of what it did. */
function supervise(command: string, args: string[], extra: Partial<Omit<ChildSupervisorOptions, 'serverId' | 'command' | 'args' | 'logger'>> = {}) {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  const sup = new ChildSupervisor({ serverId: 'test', command, args, logger: pino({ level: 'debug' }, sink), backoffInitialMs: 5, backoffMaxMs: 20, maxStartFailures: 3, stopTimeoutMs: 2000, ...extra });
  supervisors.push(sup);
  const states: ChildState[] = [];
  const exits: ChildExit[] = [];
  sup.on('state', (s) => states.push(s));
  sup.on('exit', (e) => exits.push(e));
  return { sup, lines, states, exits };
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-sup-'));
  dirs.push(dir);
  return dir;
}

describe('ChildSupervisor spawn failures', () => {
  it('ends fatal after the allowed failures when the binary is missing (ENOENT), and close() resolves', async () => {
    const t = supervise('/nonexistent/node', ['server']);
    await t.sup.start();
    await waitFor(() => t.sup.state === 'fatal', { what: `fatal (states ${t.states.join(',')})` });
    expect(t.sup.restarts).toBe(2);
    expect(t.exits).toHaveLength(3);
    expect(t.exits.every((e) => e.pid === undefined && (e.spawnError as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' && !e.expected)).toBe(true);
    expect(t.lines.find((l) => l.msg === 'could not spawn the MCP child')).toMatchObject({ command: '/nonexistent/node', err: 'no such file or directory' });
    expect(t.states).toEqual(['starting', 'backoff', 'starting', 'backoff', 'starting', 'fatal']);
    await t.sup.close();
    expect(t.sup.state).toBe('stopped');
  });

  it('treats a file that is not executable (EACCES) as a failed start', async () => {
    const file = path.join(await tempDir(), 'not-executable');
    await writeFile(file, '#!/bin/sh\nexit 0\n');
    await chmod(file, 0o644);
    const t = supervise(file, []);
    await t.sup.start();
    await waitFor(() => t.sup.state === 'fatal', { what: `fatal (states ${t.states.join(',')})` });
    expect(t.exits.map((e) => (e.spawnError as NodeJS.ErrnoException | undefined)?.code)).toEqual(['EACCES', 'EACCES', 'EACCES']);
    await t.sup.close();
  });

  it('survives spawn throwing synchronously (E2BIG), at start and in the backoff timer', async () => {
    // One argument longer than Linux's MAX_ARG_STRLEN (128 KiB): execve fails, Node throws.
    const t = supervise(process.execPath, ['-e', '0', 'x'.repeat(200_000)]);
    await t.sup.start();
    await waitFor(() => t.sup.state === 'fatal', { what: `fatal (states ${t.states.join(',')})` });
    expect(t.sup.restarts).toBe(2);
    expect(t.exits.map((e) => (e.spawnError as NodeJS.ErrnoException | undefined)?.code)).toEqual(['E2BIG', 'E2BIG', 'E2BIG']);
    await t.sup.close();
  });

  it('close() resolves while a failed spawn is still being reported', async () => {
    const t = supervise('/nonexistent/node', ['server']);
    await t.sup.start();
    await t.sup.close();
    expect(t.sup.state).toBe('stopped');
    // The stop was asked for: no restart, no fatal.
    expect(t.states.at(-1)).toBe('stopped');
  });
});

describe('ChildSupervisor readiness', () => {
  it("follows its own child's snapshot whatever its startedAt, and ignores another pid's", async () => {
    const t = supervise(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    await t.sup.start();
    const pid = t.sup.pid!;
    expect(pid).toBeGreaterThan(0);
    const snap = (over: Partial<Snapshot>): Snapshot => ({
      schema: 'mcp-monitor/snapshot@1', serverId: 'test', pid, seq: 1, status: 'running', reason: 'startup',
      // A clock stepped back a year before this child started.
      startedAt: '2025-01-01T00:00:00.000Z', writtenAt: '2025-01-01T00:00:00.000Z', heartbeatMs: 2000,
      mcp: { url: 'http://127.0.0.1:1/mcp', endpoint: '/mcp', port: 1 }, activeConnections: 0, totalConnections: 0,
      lastUpdated: '2025-01-01T00:00:00.000Z', connections: [], ...over,
    }) as Snapshot;
    t.sup.observe(snap({ pid: pid + 1, startedAt: '2030-01-01T00:00:00.000Z' }));
    expect(t.sup.state).toBe('starting');
    t.sup.observe(snap({ status: 'starting', mcp: null }));
    expect(t.sup.state).toBe('starting');
    t.sup.observe(snap({}));
    expect(t.sup.state).toBe('running');
    await t.sup.close();
  });
});

describe('ChildSupervisor environment', () => {
  it('never passes MCP_MONITOR_TOKEN to the child', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'env.json');
    // The child writes its environment, then waits to be stopped.
    const script = `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env)); setInterval(() => {}, 1000);`;
    const t = supervise(process.execPath, ['-e', script], { env: { ...process.env, MCP_MONITOR_TOKEN: 's3cret', KEEP_ME: 'yes' } });
    await t.sup.start();
    const env = await waitFor(async () => JSON.parse(await readFile(out, 'utf8')) as Record<string, string>, { what: 'the child to write its env' });
    expect(env.KEEP_ME).toBe('yes');
    expect(env.MCP_MONITOR_TOKEN).toBeUndefined();
    await t.sup.close();
    expect(t.exits.at(-1)).toMatchObject({ expected: true, signal: 'SIGTERM' });
  });
});

describe('ChildSupervisor operator actions', () => {
  const idle = ['-e', 'setInterval(() => {}, 1000)'];

  it('runs actions one after another, in order; none counts as a restart', async () => {
    const t = supervise(process.execPath, idle);
    await t.sup.start();
    const first = t.sup.pid!;
    // Asked at once: each waits for the one before.
    const results = await Promise.all([t.sup.stopChild(), t.sup.startChild(), t.sup.restartChild(), t.sup.stopChild(), t.sup.startChild()]);
    expect(results).toEqual(['stopped', 'starting', 'starting', 'stopped', 'starting']);
    expect(t.sup.restarts).toBe(0);
    expect(t.exits.map((e) => e.expected)).toEqual([true, true, true]);
    expect(t.exits[0]!.pid).toBe(first);
    const pids = new Set([first, ...t.exits.map((e) => e.pid), t.sup.pid]);
    expect(pids.size).toBe(4);
    expect(t.lines.filter((l) => l.msg === 'MCP child spawned')).toHaveLength(4);
    expect(await t.sup.startChild()).toBe('starting');
    expect(t.lines.filter((l) => l.msg === 'MCP child spawned')).toHaveLength(4);
  });

  it('merges repeats of the waiting action: five restarts asked at once are two restarts, each answered', async () => {
    const t = supervise(process.execPath, idle);
    await t.sup.start();
    const results = await Promise.all(Array.from({ length: 5 }, () => t.sup.restartChild()));
    expect(results).toEqual(Array(5).fill('starting'));
    // The first child, the restart under way, and one for the four asked while it was.
    expect(t.lines.filter((l) => l.msg === 'MCP child spawned')).toHaveLength(3);
    expect(t.exits).toHaveLength(2);
  });

  it('does not spawn without autostart until started; stop and start before start() only set what is wanted', async () => {
    const t = supervise(process.execPath, idle, { autostart: false });
    expect(t.sup.wanted).toBe(false);
    // Wanted before the supervisor was started: it says it is starting (it waits for its turn).
    expect(await t.sup.startChild()).toBe('starting');
    expect(t.sup.wanted).toBe(true);
    expect(await t.sup.stopChild()).toBe('stopped');
    await t.sup.start();
    expect(t.sup.pid).toBeUndefined();
    expect(t.states).toEqual([]);
    expect(await t.sup.startChild()).toBe('starting');
    expect(t.sup.wanted).toBe(true);
    expect(t.sup.pid).toBeGreaterThan(0);
  });

  it('stops from backoff, and a start after fatal gets a fresh count of failures', async () => {
    const t = supervise(process.execPath, ['-e', 'process.exit(1)']);
    // Stopped the moment it enters backoff (the backoff is a few ms: polling would miss it).
    const stopped = new Promise<ChildState>((resolve) => {
      const onState = (state: ChildState) => {
        if (state !== 'backoff') return;
        t.sup.off('state', onState);
        resolve(t.sup.stopChild());
      };
      t.sup.on('state', onState);
    });
    await t.sup.start();
    expect(await stopped).toBe('stopped');
    expect(t.states).toEqual(['starting', 'backoff', 'stopped']);
    expect(t.sup.restarts).toBe(0);
    expect(t.sup.wanted).toBe(false);
    expect(await t.sup.startChild()).toBe('starting');
    await waitFor(() => t.sup.state === 'fatal', { what: `fatal (states ${t.states.join(',')})` });
    const failures = t.exits.length;
    const restarts = t.sup.restarts;
    expect(await t.sup.startChild()).toBe('starting');
    await waitFor(() => t.sup.state === 'fatal' && t.exits.length === failures + 3, { what: 'fatal again after three more failures' });
    // Restarts count the supervisor's own: the two between the three failures, not the start.
    expect(t.sup.restarts).toBe(restarts + 2);
  });

  it('close() during a restart that waits for a stubborn child: SIGKILL, no new child', async () => {
    const t = supervise(process.execPath, ['-e', "process.on('SIGTERM', () => {}); console.log('deaf to SIGTERM'); setInterval(() => {}, 1000)"], { stopTimeoutMs: 300 });
    await t.sup.start();
    const pid = t.sup.pid!;
    // It says so once its handler is in place.
    await waitFor(() => t.lines.some((l) => l.line === 'deaf to SIGTERM'), { what: 'the child to ignore SIGTERM' });
    const restart = t.sup.restartChild();
    await waitFor(() => t.lines.some((l) => l.msg === 'stopping MCP child'), { what: 'the restart to stop the child' });
    await t.sup.close();
    expect(await restart).toBe('stopped');
    expect(t.sup.state).toBe('stopped');
    expect(t.exits).toHaveLength(1);
    expect(t.exits[0]).toMatchObject({ pid, expected: true, signal: 'SIGKILL' });
    expect(t.lines.filter((l) => l.msg === 'MCP child spawned')).toHaveLength(1);
    expect(await t.sup.startChild()).toBe('stopped');
  });
});
