/**
 * The calls journal end to end, under `mcp-monitor start` as a user runs it: across restarts of
 * the child (asked for, and kill -9) with rotation on the way, read by `mcp-monitor calls`,
 * `calls --follow` and `GET …/calls`; and on a disk that fails for a while (a 256 KiB tmpfs
 * filled to its last page), where the MCP server keeps answering and every line the journal
 * could not write is counted in `callsDropped` and `mcp_calls_dropped_total`. Mounting needs
 * root and a container that allows tmpfs mounts: where it cannot, that case is skipped and its
 * title says why.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseCallLine, type CallLine } from '../shared/calls.js';
import { closeClients, connectClient, type McpTestClient } from './helpers/mcp-client.js';
import { cleanup, Proc, run, startApi, type Api } from './helpers/processes.js';
import { parsePrometheus } from './helpers/prometheus-text.js';
import { readSnap, waitSnap } from './helpers/server-process.js';
import { fill, smallTmpfs, tmpfsRefusal, unmountAll } from './helpers/small-tmpfs.js';
import { waitFor } from './helpers/wait-for.js';

async function cleanUp(): Promise<void> {
  await closeClients();
  await cleanup();
  await unmountAll();
}
afterEach(cleanUp);
afterAll(cleanUp);

const JSON_POST = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' };

/** Every line `mcp-monitor calls --json` prints for the default server, oldest first. */
async function printedCalls(stateDir: string): Promise<CallLine[]> {
  const r = await run(['calls', '--json', '--state-dir', stateDir, '--server-id', 'default']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean).map((l) => parseCallLine(l));
}

/** `n` echo calls, each checked: the server answered with what was sent. */
async function echoes(c: McpTestClient, tag: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) {
    const r = (await c.client.callTool({ name: 'echo', arguments: { text: `${tag}-${i}` } })) as { content: Array<{ text: string }> };
    expect(r.content[0]!.text).toContain(`${tag}-${i}`);
  }
}

/** The pid of a running child other than `not`. */
async function nextChild(api: Api, not: number): Promise<number> {
  return waitFor(async () => {
    const pid = await api.childPid();
    return pid !== not ? pid : undefined;
  }, { what: `a child other than ${not}`, timeout: 30_000 });
}

describe('the calls journal under mcp-monitor start', () => {
  it('keeps every line across a requested restart, a kill -9 and rotations; calls, calls --follow and GET …/calls agree', async () => {
    // About four lines a file: each child's lines rotate several times.
    const api = await startApi({ args: ['--calls-max-bytes', '1024', '--calls-files', '40'] });
    const follow = new Proc(['calls', '--json', '--follow', '--state-dir', api.stateDir, '--server-id', 'default']);
    const pids = [await api.childPid()];
    const written = (pid: number, client: string) => async () => (await printedCalls(api.stateDir)).filter((l) => l.pid === pid && l.client === client && l.method === 'tools/call').length;

    const before = await connectClient(await api.mcpUrl(), { name: 'before' });
    await echoes(before, 'a', 6);
    await waitFor(async () => (await written(pids[0]!, 'before')()) === 6 || undefined, { what: "the first child's six lines" });
    // A restart asked for: the child is stopped the polite way and writes what it queued.
    await before.close();
    expect((await api.json('/api/mcp/servers/default/restart', JSON_POST)).status).toBe(202);
    pids.push(await nextChild(api, pids[0]!));

    const after = await connectClient(await api.mcpUrl(), { name: 'after-restart' });
    await echoes(after, 'b', 6);
    await waitFor(async () => (await written(pids[1]!, 'after-restart')()) === 6 || undefined, { what: "the second child's six lines" });
    // No polite way: what the child wrote stays, and the next one appends after it.
    process.kill(pids[1]!, 'SIGKILL');
    await after.close();
    pids.push(await nextChild(api, pids[1]!));
    const last = await connectClient(await api.mcpUrl(), { name: 'after-kill' });
    await echoes(last, 'c', 6);
    await waitFor(async () => (await written(pids[2]!, 'after-kill')()) === 6 || undefined, { what: "the third child's six lines" });

    const lines = await printedCalls(api.stateDir);
    const files = (await readdir(path.join(api.stateDir, 'default'))).filter((f) => f.startsWith('calls'));
    expect(files.length).toBeGreaterThan(5);
    // Each child's own seq, from 1, one line each, in the order they were written.
    expect([...new Set(lines.map((l) => l.pid))]).toEqual(pids);
    for (const pid of pids) {
      const seqs = lines.filter((l) => l.pid === pid).map((l) => l.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    }
    const calls = lines.filter((l) => l.method === 'tools/call');
    expect(calls.map((l) => [l.client, l.name, l.outcome])).toEqual([
      ...Array.from({ length: 6 }, () => ['before', 'echo', 'ok']),
      ...Array.from({ length: 6 }, () => ['after-restart', 'echo', 'ok']),
      ...Array.from({ length: 6 }, () => ['after-kill', 'echo', 'ok']),
    ]);
    expect(calls.map((l) => l.sessionId)).toEqual([...Array(6).fill(before.sessionId), ...Array(6).fill(after.sessionId), ...Array(6).fill(last.sessionId)]);
    // Nothing in any file but whole lines: the kill came after the lines were written.
    for (const f of files) {
      for (const line of (await readFile(path.join(api.stateDir, 'default', f), 'utf8')).split('\n').filter(Boolean)) expect(() => parseCallLine(line)).not.toThrow();
    }

    // --follow, started before the first call, printed each line once, in order, through every
    // rotation and every new writer.
    await waitFor(() => follow.stdout.filter(Boolean).length >= lines.length || undefined, { what: `${lines.length} lines followed (${follow.stderr.join(' | ')})` });
    expect(follow.stdout.filter(Boolean).map((l) => parseCallLine(l))).toEqual(lines);
    expect(await follow.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    const route = await api.json(`/api/mcp/servers/default/calls?limit=1000`);
    expect(route.status).toBe(200);
    expect(route.body.calls).toEqual(lines);
    const mine = await api.json(`/api/mcp/servers/default/calls?sessionId=${after.sessionId}&name=echo`);
    expect(mine.body.calls.map((l: CallLine) => l.pid)).toEqual(Array(6).fill(pids[1]));
  });
});

const refusal = tmpfsRefusal();
const tmpfsTitle = (title: string) => (refusal ? `${title} (skipped: ${refusal})` : title);

describe('the calls journal on a disk that fails for a while', () => {
  it.skipIf(refusal !== undefined)(tmpfsTitle('the server keeps answering; the lines it could not write are exactly those counted in callsDropped and mcp_calls_dropped_total'), async () => {
    const { mount, stateDir } = await smallTmpfs();
    const api = await startApi({ stateDir });
    const pid = await api.childPid();
    const c = await connectClient(await api.mcpUrl(), { name: 'disk' });
    await echoes(c, 'before', 3);
    await waitFor(async () => (await printedCalls(stateDir)).filter((l) => l.method === 'tools/call').length === 3 || undefined, { what: 'three lines before the disk fills' });

    const filler = path.join(mount, 'filler');
    await fill(filler);
    // Every call is answered, batch after batch failing behind it.
    for (let round = 0; round < 4; round += 1) {
      await echoes(c, `full-${round}`, 10);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await api.proc.waitForLog((l) => l.msg === 'calls journal: lines lost');
    expect(api.proc.logs().filter((l) => l.msg === 'calls journal: lines lost')).toHaveLength(1);

    await rm(filler);
    await echoes(c, 'after', 5);
    const snap = await waitFor(async () => {
      const s = await readSnap(stateDir).catch(() => undefined);
      return s && s.pid === pid && (s.operations?.find((o) => o.method === 'tools/call' && o.name === 'echo')?.count ?? 0) >= 48 ? s : undefined;
    }, { what: 'a snapshot with every call, once the disk has room' });
    // Every request made so far has its seq (written or dropped): wait for the last one, whatever
    // part of the batches tried on the full disk still fitted in it.
    const requests = snap.operations!.reduce((n, o) => n + o.count, 0);
    const lines = await waitFor(async () => {
      const l = await printedCalls(stateDir);
      return Math.max(0, ...l.filter((x) => x.pid === pid).map((x) => x.seq)) >= requests ? l : undefined;
    }, { what: 'the lines after the disk has room' });
    const mine = lines.filter((l) => l.pid === pid);
    const issued = Math.max(...mine.map((l) => l.seq));
    // A snapshot written after the last line: its count covers every batch tried.
    const later = await waitSnap(stateDir, (s) => s.pid === pid && s.seq > snap.seq + 1, 'two more snapshots');
    const dropped = later.callsDropped!;
    // The seqs missing from the journal are the lines dropped, no more and no fewer.
    expect(dropped).toBeGreaterThan(0);
    expect(new Set(mine.map((l) => l.seq)).size).toBe(mine.length);
    expect(issued - mine.length).toBe(dropped);
    // The last five were written once room came back.
    expect(mine.slice(-5).map((l) => l.outcome)).toEqual(Array(5).fill('ok'));

    const metrics = parsePrometheus(await (await api.fetch('/metrics')).text());
    expect(metrics.get('mcp_calls_dropped_total')!.samples.find((s) => s.labels.server_id === 'default')!.value).toBe(dropped);
    expect((await api.json('/api/mcp/servers')).body.servers.find((s: { serverId: string }) => s.serverId === 'default')).toMatchObject({ status: 'running', pid });
  });
});
