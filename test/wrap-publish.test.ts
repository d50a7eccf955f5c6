/**
 * What `mcp-monitor wrap` publishes, and that publishing never gets in the relay's way: a state
 * directory it cannot use (another user's, a regular file) leaves the relay working with one
 * line on stderr; two wrappers of one command are two servers (`<id>`, `<id>-2`); the id of a
 * dead writer is taken over with its totals; and a wrapper SIGKILLed leaves CMD with EOF, and the
 * next writer of the id ends CMD's group if it lives on.
 */
import { chown, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, isAlive, makeStateDir, ROOT } from './helpers/processes.js';
import { readSnap, waitSnap } from './helpers/server-process.js';
import { NOBODY } from './helpers/unprivileged.js';
import { waitFor } from './helpers/wait-for.js';
import { cleanupWraps, cmdGroups, WrapProc } from './helpers/wrap-process.js';

afterEach(async () => {
  await cleanupWraps();
  await cleanup();
});

const EOF_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'wrap-eof.mjs');
const PING = '{"jsonrpc":"2.0","id":1,"method":"ping"}\n';

/** The relay works: a line through `cat` comes back unchanged, and stdin's end ends it with 0. */
async function relays(w: WrapProc): Promise<void> {
  w.child.stdin!.write(PING);
  await waitFor(() => w.stdout().toString() === PING, { timeout: 10_000, what: 'the line echoed' });
  w.child.stdin!.end();
  expect(await w.exited).toEqual({ code: 0, signal: null });
  expect(w.stdout().toString()).toBe(PING);
}

describe('a state directory wrap cannot use: the relay works all the same, one stderr line', () => {
  it('owned by another user', async () => {
    const stateDir = await makeStateDir();
    await chown(stateDir, NOBODY, NOBODY);
    const w = new WrapProc(['--state-dir', stateDir, '--', 'cat']);
    await relays(w);
    expect(w.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^mcp-monitor wrap: monitoring off \(.*owned by uid 65534.*\); relaying cat all the same$/)]);
  });

  it('a regular file', async () => {
    const file = path.join(await makeStateDir(), 'not-a-dir');
    await writeFile(file, 'x');
    const w = new WrapProc(['--', 'cat'], { env: { MCP_MONITOR_STATE_DIR: file } });
    await relays(w);
    expect(w.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^mcp-monitor wrap: monitoring off \(.*not a directory.*\)/)]);
  });
});

describe('server ids', () => {
  it('two wrappers of the same command at once are <id> and <id>-2, each with its one connection', async () => {
    const stateDir = await makeStateDir();
    const marks = path.join(stateDir, 'marks');
    const cmd = ['--state-dir', stateDir, '--heartbeat-ms', '500', '--', process.execPath, EOF_FIXTURE, marks];
    const a = new WrapProc(cmd);
    const b = new WrapProc(cmd);
    const one = await waitSnap(stateDir, (s) => s.status === 'running' && s.activeConnections === 1, 'wrap-eof running', 'wrap-eof');
    const two = await waitSnap(stateDir, (s) => s.status === 'running' && s.activeConnections === 1, 'wrap-eof-2 running', 'wrap-eof-2');
    expect(new Set([one.pid, two.pid])).toEqual(new Set([a.pid, b.pid]));
    expect(one.connections[0]!.sessionId).not.toBe(two.connections[0]!.sessionId);
    a.child.stdin!.end();
    b.child.stdin!.end();
    expect((await a.exited).code).toBe(0);
    expect((await b.exited).code).toBe(0);
    // Both stopped: the next wrapper takes the first id again.
    const c = new WrapProc(cmd);
    const again = await waitSnap(stateDir, (s) => s.status === 'running' && s.pid === c.pid, 'the first id taken again', 'wrap-eof');
    expect(again.totalConnections).toBe(2);
    c.child.stdin!.end();
    expect((await c.exited).code).toBe(0);
  });

  it('the id of a dead writer is taken over at once, its totals and journal going on', async () => {
    const stateDir = await makeStateDir();
    const marks = path.join(stateDir, 'marks');
    const cmd = ['--state-dir', stateDir, '--heartbeat-ms', '500', '--', process.execPath, EOF_FIXTURE, marks];
    const a = new WrapProc(cmd);
    await waitSnap(stateDir, (s) => s.status === 'running' && s.activeConnections === 1, 'the first running', 'wrap-eof');
    a.child.kill('SIGKILL');
    await a.exited;
    const b = new WrapProc(cmd);
    const t0 = performance.now();
    const snap = await waitSnap(stateDir, (s) => s.status === 'running' && s.pid === b.pid && s.activeConnections === 1, 'the second under the same id', 'wrap-eof');
    // Long before the dead lock would go stale (5 s).
    expect(performance.now() - t0).toBeLessThan(4000);
    expect(snap.totalConnections).toBe(2);
    // The dead writer's connection counts as closed (shutdown).
    expect(snap.sessionsClosed?.shutdown).toBe(1);
    const journal = (await readFile(path.join(stateDir, 'wrap-eof', 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(journal.filter((l) => l.event === 'start').map((l) => l.pid)).toEqual([a.pid, b.pid]);
    b.child.stdin!.end();
    expect((await b.exited).code).toBe(0);
  });
});

describe('the wrapper SIGKILLed', () => {
  it('CMD sees EOF; one that lives on is ended by the next writer of the id', async () => {
    const stateDir = await makeStateDir();
    const marks = path.join(stateDir, 'marks');
    const a = new WrapProc(['--state-dir', stateDir, '--server-id', 'files', '--heartbeat-ms', '500', '--', process.execPath, EOF_FIXTURE, marks, 'stay']);
    const snap = await waitSnap(stateDir, (s) => (s.processes?.length ?? 0) === 1 && s.activeConnections === 1, 'CMD listed in processes', 'files');
    const cmdPid = snap.processes![0]!.pid;
    cmdGroups.add(cmdPid);
    expect(snap.connections[0]!.process?.pid).toBe(cmdPid);
    expect(snap.processes![0]!.sessionId).toBe(snap.connections[0]!.sessionId);
    a.child.kill('SIGKILL');
    await a.exited;
    await waitFor(async () => (await readFile(marks, 'utf8').catch(() => '')).includes('eof'), { timeout: 5000, what: 'CMD saw EOF' });
    // It ignores EOF: still alive, until the next writer of the id comes.
    expect(isAlive(cmdPid)).toBe(true);
    const b = new WrapProc(['--state-dir', stateDir, '--server-id', 'files', '--', 'cat']);
    await waitFor(() => !isAlive(cmdPid), { timeout: 10_000, what: 'the left CMD ended by the next writer' });
    // The reaper runs before the next writer's first snapshot: wait for that one.
    const next = await waitSnap(stateDir, (x) => x.pid === b.pid, 'the next writer\'s snapshot', 'files');
    expect(next.pid).toBe(b.pid);
    expect(next.serverId).toBe('files');
    b.child.stdin!.end();
    expect((await b.exited).code).toBe(0);
  });
});
