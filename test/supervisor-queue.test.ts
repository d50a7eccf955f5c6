/**
 * The supervisor's queue of operator actions (api/action-queue.ts), over real HTTP against a real
 * `mcp-monitor start` and its real child: a burst of identical requests is merged into the one
 * waiting, and few different ones may wait. The routes stay open without a token,
 * and the start log says so.
 *
 * The child is paused (SIGSTOP) while the requests come in: the SIGTERM of the first action
 * waits until it runs again (SIGCONT), so every request has arrived while that action is under
 * way, however slow this machine is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION_QUEUE_MAX } from '../api/action-queue.js';
import { cleanup, startApi, type Api } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(cleanup);

const JSON_POST = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' };

const spawned = (api: Api) => api.proc.logs().filter((l) => l.msg === 'MCP child spawned').length;
const requested = (api: Api) => api.proc.logs().filter((l) => l.msg === 'supervisor action requested').length;

async function post(api: Api, action: string): Promise<{ status: number; body: any }> {
  return api.json(`/api/mcp/servers/default/${action}`, JSON_POST);
}

describe('supervisor actions queue', () => {
  it('a burst of 50 restarts without a token gives two kill-and-spawn cycles, each answered 202', async () => {
    const api = await startApi();
    const warning = await api.proc.waitForLog((l) => l.level === 40 && /without a token/.test(String(l.msg)));
    expect(warning.msg).toMatch(/write routes .* open to every local user/);
    const pid = await api.childPid();
    const before = spawned(api);
    process.kill(pid, 'SIGSTOP');
    const answers = Array.from({ length: 50 }, () => post(api, 'restart'));
    await waitFor(() => requested(api) === 50, { what: 'the 50 requests to arrive' });
    process.kill(pid, 'SIGCONT');
    const results = await Promise.all(answers);
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(202));
    expect(new Set(results.map((r) => r.body.status))).toEqual(new Set(['starting']));
    // The restart under way, and one more for all 49 that came while it ran.
    expect(spawned(api) - before).toBe(2);
    expect(api.proc.logs().filter((l) => l.msg === 'stopping MCP child')).toHaveLength(2);
    await api.childPid();
  });

  it(`refuses a different action with 429 once ${ACTION_QUEUE_MAX} wait, and still merges a repeat of the last`, async () => {
    const api = await startApi();
    const pid = await api.childPid();
    process.kill(pid, 'SIGSTOP');
    // One at a time, so that they queue in this order: the first stop is under way, then
    // restart, stop, restart, stop wait.
    const order = ['stop', 'restart', 'stop', 'restart', 'stop'];
    const answers: Promise<{ status: number; body: any }>[] = [];
    for (const action of order) {
      const n = requested(api);
      answers.push(post(api, action));
      await waitFor(() => requested(api) === n + 1, { what: `the ${action} request to arrive` });
    }
    const refused = await post(api, 'restart');
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('queue_full');
    expect(refused.body.error.message).toMatch(new RegExp(`^Server "default": ${ACTION_QUEUE_MAX} supervisor actions are already waiting`));
    answers.push(post(api, 'stop'));
    process.kill(pid, 'SIGCONT');
    const results = await Promise.all(answers);
    expect(results.map((r) => r.status)).toEqual(Array(6).fill(202));
    expect(results.map((r) => r.body.status)).toEqual(['stopped', 'starting', 'stopped', 'starting', 'stopped', 'stopped']);
    expect((await api.json('/api/mcp/servers/default')).body.status).toBe('stopped');
    // Queued and then done: the queue takes a different action again.
    expect((await post(api, 'start')).status).toBe(202);
    await api.childPid();
  });
});
