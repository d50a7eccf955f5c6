/**
 * No stdio process outlives its child, with a stdio server that ignores SIGTERM and the end of its
 * stdin, so that only the child's SIGKILL 5 s into the stop ends it: through `POST …/stop`,
 * `POST …/restart` and SIGTERM of the API the child gets the time to send it (the API waits
 * longer than that); a process whose session has ended but which has not exited stays in the snapshot's
 * `processes`, so that when the child dies then, the API (or the next child) ends it.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, isAlive, makeStateDir, ROOT, startApi, type Api } from './helpers/processes.js';
import { startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

const pids: number[] = [];
afterEach(async () => {
  await closeClients();
  // Whatever a failing test left: never an orphan on the shared machine.
  for (const pid of pids.splice(0)) if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
  await cleanup();
});

const DEAF = path.join(ROOT, 'test', 'fixtures', 'stdio-deaf.mjs');
const deaf = ['--command', `${process.execPath} ${DEAF}`];
const JSON_POST = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' };

/** A session of the API's child and the pid of its stdio process, listed in `processes` with its session. */
async function openSession(api: Api): Promise<number> {
  const c = await connectClient(await api.mcpUrl());
  const snap = await waitSnap(api.stateDir, (s) => s.processes?.some((p) => p.sessionId === c.sessionId) ?? false, 'the process listed with its session');
  const p = snap.processes!.find((x) => x.sessionId === c.sessionId)!;
  expect(snap.connections.find((x) => x.sessionId === c.sessionId)?.process?.pid).toBe(p.pid);
  pids.push(p.pid);
  return p.pid;
}

/** The child ended its process itself: the API never had to SIGKILL it. */
function childEndedItsProcesses(api: Api): void {
  expect(api.proc.stderr.some((l) => l.includes('deaf: SIGTERM ignored'))).toBe(true);
  expect(api.proc.logs().some((l) => l.msg === 'MCP child did not stop in time; SIGKILL')).toBe(false);
}

describe('a stdio server deaf to SIGTERM and stdin EOF, under the API', () => {
  it('POST …/stop: the child ends it before it exits', async () => {
    const api = await startApi({ args: deaf });
    const pid = await openSession(api);
    const stop = await api.json('/api/mcp/servers/default/stop', JSON_POST);
    expect(stop).toEqual({ status: 202, body: { serverId: 'default', status: 'stopped' } });
    await waitFor(() => !isAlive(pid), { timeout: 3000, what: `stdio process ${pid} gone after the stop` });
    childEndedItsProcesses(api);
    const snap = await waitSnap(api.stateDir, (s) => s.status === 'stopped', 'the stopped snapshot');
    expect(snap.processes).toEqual([]);
  }, 40_000);

  it('POST …/restart: the old child ends it, the new child serves', async () => {
    const api = await startApi({ args: deaf });
    const oldChild = await api.childPid();
    const pid = await openSession(api);
    const restart = await api.json('/api/mcp/servers/default/restart', JSON_POST);
    expect(restart.status).toBe(202);
    await waitFor(() => !isAlive(pid), { timeout: 3000, what: `stdio process ${pid} gone after the restart` });
    childEndedItsProcesses(api);
    expect(await api.childPid()).not.toBe(oldChild);
  }, 40_000);

  it('SIGTERM of the API: no process of it is left', async () => {
    const api = await startApi({ args: deaf });
    const child = await api.childPid();
    const pid = await openSession(api);
    expect(await api.proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    await waitFor(() => !isAlive(pid) && !isAlive(child), { timeout: 3000, what: 'the stdio process and the child gone' });
    childEndedItsProcesses(api);
  }, 40_000);

  it('a session ended, its process not exited yet, the child SIGKILLed: the API ends the process', async () => {
    const api = await startApi({ args: deaf });
    const c = await connectClient(await api.mcpUrl());
    const listed = await waitSnap(api.stateDir, (s) => s.processes?.some((p) => p.sessionId === c.sessionId) ?? false, 'the process listed');
    const pid = listed.processes![0]!.pid;
    pids.push(pid);
    await c.terminate();
    // Its row is gone; the process is still listed (it ignores stdin's end for 2 s, SIGTERM for 3).
    const ending = await waitSnap(api.stateDir, (s) => s.activeConnections === 0, 'the session ended');
    expect(ending.processes).toMatchObject([{ pid, sessionId: c.sessionId }]);
    // /metrics counts it too: a process that has not exited costs what it costs.
    await waitFor(async () => /^mcp_session_processes\{server_id="default"\} 1$/m.test(await (await api.fetch('/metrics')).text()) || undefined, { timeout: 3000, what: 'mcp_session_processes 1 with no session' });
    process.kill(await api.childPid(), 'SIGKILL');
    await waitFor(() => !isAlive(pid), { timeout: 5000, what: `the API to end stdio process ${pid}` });
    expect(api.proc.logs().some((l) => l.msg === 'ended the stdio server processes the dead child left' && (l.pids as number[]).includes(pid))).toBe(true);
  }, 40_000);
});

describe('a standalone child SIGKILLed while a process of an ended session is exiting', () => {
  it('its next start ends the process', async () => {
    const stateDir = await makeStateDir();
    const first = await startServer({ stateDir, args: deaf });
    const c = await connectClient(first.url);
    const listed = await waitSnap(stateDir, (s) => s.processes?.some((p) => p.sessionId === c.sessionId) ?? false, 'the process listed');
    const pid = listed.processes![0]!.pid;
    pids.push(pid);
    await c.terminate();
    await waitSnap(stateDir, (s) => s.activeConnections === 0 && s.processes?.length === 1, 'the session ended, the process listed');
    first.proc.child.kill('SIGKILL');
    await first.proc.exited;
    expect(isAlive(pid)).toBe(true);
    const second = await startServer({ stateDir, args: deaf });
    await waitFor(() => !isAlive(pid), { timeout: 5000, what: `the next start to end stdio process ${pid}` });
    expect(second.proc.logs().some((l) => l.msg === 'ended the stdio server processes the previous writer left')).toBe(true);
  }, 40_000);
});
