/**
 * Ending a session through the control directory (shared/control-request.ts, and the CLI's
 * `end-session`): requests dropped by hand and by the CLI, carried out by real children of every
 * backend (built-in, `--command` with server-everything over stdio, `--upstream` in front of
 * server-everything over HTTP), and hostile or stale requests removed while the child keeps
 * serving.
 */
import { mkdir, open, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatEvent } from '../cli/commands/tail.js';
import { ServerTracker, type TailEvent } from '../cli/server-tracker.js';
import { CONTROL_REQUEST_MAX_BYTES } from '../shared/control-request.js';
import { parseJournalLine, parseJournalText } from '../shared/journal.js';
import { connectionsAt } from '../shared/replay.js';
import { startEverythingHttp, stopEverythingHttp } from './helpers/everything-http.js';
import { closeV2Clients, connectV2 } from './helpers/mcp-client-v2.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, isAlive, makeStateDir, ROOT, run, type Proc } from './helpers/processes.js';
import { rawCall, rawSession } from './helpers/raw-mcp.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await closeV2Clients();
  await cleanup();
  await stopEverythingHttp();
});

const NODE = process.execPath;
const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

function controlDir(stateDir: string, id = 'default'): string {
  return path.join(stateDir, id, 'control');
}

/** A request as an operator writes one: plain fs, no temp file. */
async function drop(stateDir: string, name: string, body: unknown): Promise<string> {
  const file = path.join(controlDir(stateDir), name);
  await writeFile(file, typeof body === 'string' ? body : JSON.stringify(body));
  return file;
}

function endRequest(sessionId: string, by = 'operator:alice') {
  return { action: 'end-session', sessionId, requestedAt: new Date().toISOString(), by };
}

async function journal(stateDir: string): Promise<any[]> {
  return (await readFile(path.join(stateDir, 'default', 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
}

async function disconnectOf(stateDir: string, sessionId: string): Promise<any> {
  return waitFor(async () => (await journal(stateDir)).find((l) => l.event === 'disconnect' && l.sessionId === sessionId), { what: `the disconnect line of ${sessionId}` });
}

function waitEmpty(stateDir: string): Promise<boolean> {
  return waitFor(async () => (await readdir(controlDir(stateDir))).length === 0, { what: 'the control directory to be empty' });
}

/** The warning of the control component about `file`. */
function warningAbout(proc: Proc, file: string) {
  return proc.waitForLog((l) => l.component === 'control' && l.level === 40 && l.file === file);
}

describe('control requests dropped by hand', () => {
  it('end a real session: out of the snapshot, journal terminated with by, the client gets 404', async () => {
    const { url, stateDir, proc } = await startServer();
    expect((await stat(controlDir(stateDir))).mode & 0o777).toBe(0o700);
    const victim = await connectClient(url, { name: 'victim' });
    const bystander = await connectClient(url, { name: 'bystander' });
    await waitSnap(stateDir, (s) => s.activeConnections === 2, 'both sessions listed');

    await drop(stateDir, 'by-hand.json', endRequest(victim.sessionId));
    const snap = await waitSnap(stateDir, (s) => !s.connections.some((c) => c.sessionId === victim.sessionId), 'the victim gone');
    expect(snap.connections.map((c) => c.sessionId)).toEqual([bystander.sessionId]);
    expect(snap.sessionsClosed?.terminated).toBe(1);
    expect(await disconnectOf(stateDir, victim.sessionId)).toMatchObject({ reason: 'terminated', by: 'operator:alice', era: 'legacy' });
    await waitEmpty(stateDir);
    await proc.waitForLog((l) => l.msg === 'session ended on request' && l.sessionId === victim.sessionId && l.by === 'operator:alice');

    await expect(victim.client.listTools()).rejects.toMatchObject({ code: 404 });
    expect((await bystander.client.listTools()).tools.length).toBeGreaterThan(0);

    // tail reads the journal the child wrote and says who asked.
    const events: TailEvent[] = [];
    const tracker = new ServerTracker({ serverId: 'default', emit: (e) => events.push(e) });
    tracker.journal(parseJournalText(await readFile(path.join(stateDir, 'default', 'events.jsonl'), 'utf8'), 'events.jsonl', (w) => expect.fail(w)));
    const end = events.find((e) => e.event === 'disconnect' && e.sessionId === victim.sessionId)!;
    expect(end).toMatchObject({ reason: 'terminated', by: 'operator:alice' });
    expect(formatEvent(end, { color: false })).toMatch(/ reason terminated by operator:alice after /);
  });

  it('removes what it cannot carry out, says why, and keeps serving', async () => {
    const { url, stateDir, proc } = await startServer();
    const c = await connectClient(url);
    const modern = await connectV2(url, { name: 'modern-one' });
    await modern.client.listTools();
    const modernId = (await waitSnap(stateDir, (s) => s.connections.some((x) => x.era === 'modern'), 'the modern client listed')).connections.find((x) => x.era === 'modern')!.sessionId;

    // A symlink to a valid request for the live session: following it would end the session.
    const elsewhere = path.join(await makeStateDir(), 'valid.json');
    await writeFile(elsewhere, JSON.stringify(endRequest(c.sessionId)));
    await symlink(elsewhere, path.join(controlDir(stateDir), 'link.json'));
    await drop(stateDir, 'bad-json.json', '{"action": "end-session", ');
    await drop(stateDir, 'unknown-action.json', { ...endRequest(c.sessionId), action: 'reboot' });
    await drop(stateDir, 'unknown-session.json', endRequest('no-such-session'));
    await drop(stateDir, 'modern.json', endRequest(modernId));
    await drop(stateDir, 'oversize.json', JSON.stringify({ ...endRequest(c.sessionId), pad: 'x'.repeat(CONTROL_REQUEST_MAX_BYTES) }));

    expect((await warningAbout(proc, 'link.json')).why).toBe('a symbolic link (refused)');
    expect((await warningAbout(proc, 'bad-json.json')).why).toBe('not JSON');
    expect((await warningAbout(proc, 'unknown-action.json')).why).toMatch(/unknown action "reboot"/);
    expect((await warningAbout(proc, 'unknown-session.json')).why).toBe('unknown session');
    expect((await warningAbout(proc, 'modern.json')).why).toMatch(/sessionless \(modern\) client/);
    expect((await warningAbout(proc, 'oversize.json')).why).toMatch(/too large/);
    await waitEmpty(stateDir);

    // Nothing ended; the link's target is untouched; both clients are served.
    const snap = await readSnap(stateDir);
    expect(snap.connections.map((x) => x.sessionId).sort()).toEqual([c.sessionId, modernId].sort());
    expect(snap.sessionsClosed?.terminated).toBe(0);
    expect(JSON.parse(await readFile(elsewhere, 'utf8')).sessionId).toBe(c.sessionId);
    expect((await c.client.listTools()).tools.length).toBeGreaterThan(0);
    expect((await modern.client.listTools()).tools.length).toBeGreaterThan(0);
    expect(proc.alive).toBe(true);
  });

  it('waits for a request written in two steps (echo > file) instead of refusing it half-written', async () => {
    const { url, stateDir, proc } = await startServer();
    const c = await connectClient(url);
    const file = path.join(controlDir(stateDir), 'echoed.json');
    // The shell's `>`: the file exists, empty, before its text is written. Its mtime an hour
    // ago (a clock stepped back meanwhile): the writer goes by when it first saw it.
    const fh = await open(file, 'w');
    const past = new Date(Date.now() - 3_600_000);
    await utimes(file, past, past);
    // Any look at the directory that sees the marker sees the empty file too.
    await drop(stateDir, 'marker.json', endRequest('marker-session'));
    await warningAbout(proc, 'marker.json');
    expect(await readdir(controlDir(stateDir))).toEqual(['echoed.json']);
    await fh.writeFile(JSON.stringify(endRequest(c.sessionId)));
    await fh.close();
    await waitSnap(stateDir, (s) => s.activeConnections === 0 && s.sessionsClosed?.terminated === 1, 'the session ended');
    expect(proc.logs().filter((l) => l.file === 'echoed.json' && l.level === 40)).toEqual([]);
  });

  it('removes an old request found at start unread, and a killed writer\'s old temp file, but not one in flight', async () => {
    const stateDir = await makeStateDir();
    const dir = controlDir(stateDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const old = new Date(Date.now() - 120_000);
    // Not JSON: read, it would be refused as such; unread, it is removed as old.
    await writeFile(path.join(dir, 'old.json'), 'not json');
    await writeFile(path.join(dir, 'left.json.123456'), '{"act');
    await utimes(path.join(dir, 'old.json'), old, old);
    await utimes(path.join(dir, 'left.json.123456'), old, old);
    await writeFile(path.join(dir, 'flight.json.654321'), '{"act');

    const { proc } = await startServer({ stateDir });
    const oldWarning = await warningAbout(proc, 'old.json');
    expect(oldWarning.msg).toBe('removed an old control request found at start, unread');
    expect(oldWarning.why).toBeUndefined();
    expect((await warningAbout(proc, 'left.json.123456')).msg).toBe('removed a temp file left by a killed request writer');
    expect((await readdir(dir)).sort()).toEqual(['flight.json.654321']);
  });

  it('keeps a temp file that appears while it runs, however old its mtime (its writer may be renaming it now)', async () => {
    const { stateDir, proc } = await startServer();
    const temp = path.join(controlDir(stateDir), 'inflight.json.777');
    await writeFile(temp, '{"act');
    const past = new Date(Date.now() - 3_600_000);
    await utimes(temp, past, past);
    // Two markers carried out one after the other: a whole look at the directory saw the temp file.
    for (const marker of ['marker-1.json', 'marker-2.json']) {
      await drop(stateDir, marker, endRequest('marker-session'));
      await warningAbout(proc, marker);
    }
    expect(await readdir(controlDir(stateDir))).toEqual(['inflight.json.777']);
  });

  it('serves without control when the control directory is a symbolic link, which it leaves alone', async () => {
    const stateDir = await makeStateDir();
    const target = await makeStateDir();
    await mkdir(path.join(stateDir, 'default'), { mode: 0o700 });
    await symlink(target, controlDir(stateDir));
    const { url, proc } = await startServer({ stateDir });
    const line = await proc.waitForLog((l) => l.component === 'control' && l.level === 50);
    expect(line.err).toMatch(/is a symbolic link \(refused\)/);
    const sid = await rawSession(url);
    expect((await rawCall(url, sid, 'tools/list')).status).toBe(200);
    const r = await run(['end-session', sid, '--state-dir', stateDir]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/takes no requests: no control directory/);
    expect(await readdir(target)).toEqual([]);
  });
});

describe('control requests for other backends', () => {
  it('--command: the session ends and its stdio process is gone', async () => {
    const { url, stateDir } = await startServer({ args: ['--command', `${NODE} ${EVERYTHING} stdio`] });
    const c = await connectClient(url);
    const snap = await waitSnap(stateDir, (s) => s.connections.some((x) => x.sessionId === c.sessionId && x.process), 'the session with its process');
    const pid = snap.connections[0]!.process!.pid;
    expect(isAlive(pid)).toBe(true);

    await drop(stateDir, 'end.json', endRequest(c.sessionId, 'api'));
    await waitSnap(stateDir, (s) => s.activeConnections === 0 && s.sessionsClosed?.terminated === 1, 'the session ended');
    await waitFor(() => !isAlive(pid), { what: 'its process to end' });
    expect(await disconnectOf(stateDir, c.sessionId)).toMatchObject({ reason: 'terminated', by: 'api' });
    await expect(c.client.listTools()).rejects.toMatchObject({ code: 404 });
  });

  it('--upstream: the session ends here and upstream (DELETE), and its next request gets 404', async () => {
    const upstream = await startEverythingHttp();
    const { url, stateDir } = await startServer({ args: ['--upstream', upstream.url] });
    const c = await connectClient(url);
    await c.client.listTools();
    // The upstream knows it.
    expect((await rawCall(upstream.url, c.sessionId, 'tools/list')).status).toBe(200);

    await drop(stateDir, 'end.json', endRequest(c.sessionId));
    await waitSnap(stateDir, (s) => s.activeConnections === 0 && s.sessionsClosed?.terminated === 1, 'the session ended');
    expect(await disconnectOf(stateDir, c.sessionId)).toMatchObject({ reason: 'terminated', by: 'operator:alice' });
    // server-everything answers a session it does not know with 400 "No valid session ID".
    await waitFor(async () => (await rawCall(upstream.url, c.sessionId, 'tools/list')).status === 400, { what: 'the upstream to have forgotten it' });
    await expect(c.client.listTools()).rejects.toMatchObject({ code: 404 });
  });
});

describe('mcp-monitor end-session (no API)', () => {
  it('ends a live session (0), then finds it unknown (4); a modern client has nothing to end (4)', async () => {
    const { url, stateDir } = await startServer();
    const sid = await rawSession(url, 'cli-victim');
    const ok = await run(['end-session', sid, '--state-dir', stateDir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`ended session ${sid} of server default`);
    expect(await disconnectOf(stateDir, sid)).toMatchObject({ reason: 'terminated', by: `cli:${os.userInfo().username}` });
    expect((await rawCall(url, sid, 'tools/list')).status).toBe(404);

    const again = await run(['end-session', sid, '--state-dir', stateDir]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/no session .* in server "default"/);

    const modern = await connectV2(url);
    await modern.client.listTools();
    const modernId = (await waitSnap(stateDir, (s) => s.connections.some((x) => x.era === 'modern'), 'the modern client')).connections[0]!.sessionId;
    const m = await run(['end-session', modernId, '--state-dir', stateDir]);
    expect(m.code).toBe(4);
    expect(m.stderr).toMatch(/sessionless client .* no session to end/);
    expect(await readdir(controlDir(stateDir))).toEqual([]);
  });

  it('exits 3 when the server stopped cleanly or never ran, 2 for bad usage', async () => {
    const { url, stateDir, proc, serverId } = await startServer({ serverId: 'calc' });
    const sid = await rawSession(url);
    await proc.stop();
    const stopped = await run(['end-session', sid, '--state-dir', stateDir, '--server-id', serverId]);
    expect(stopped.code).toBe(3);
    expect(stopped.stderr).toMatch(/server "calc" is not running \(stopped cleanly/);
    const none = await run(['end-session', sid, '--state-dir', stateDir]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no server "default"/);

    for (const args of [[], ['a', 'b'], ['a', '--server-id', 'bad id'], ['a', '--frobnicate']]) {
      const r = await run(['end-session', ...args, '--state-dir', stateDir]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const help = await run(['end-session', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: mcp-monitor end-session SESSION_ID/);
  });
});

describe('journal readers and terminated lines', () => {
  const base = { ts: '2026-11-24T10:00:00.000Z', pid: 42, seq: 1 };
  const connect = { event: 'connect', ...base, sessionId: 's1', clientIP: '127.0.0.1', era: 'legacy' };
  const end = { event: 'disconnect', ...base, ts: '2026-11-24T10:01:00.000Z', seq: 2, sessionId: 's1', reason: 'terminated', durationMs: 60_000, requestCount: 3, era: 'legacy', by: 'cli:alice' };

  it('accept reason terminated with by, and refuse a by that is not a short string', () => {
    expect(parseJournalLine(JSON.stringify(end))).toMatchObject({ reason: 'terminated', by: 'cli:alice' });
    expect(() => parseJournalLine(JSON.stringify({ ...end, by: 7 }))).toThrow(/by must be a string/);
    expect(() => parseJournalLine(JSON.stringify({ ...end, by: 'x'.repeat(129) }))).toThrow(/by must be a string/);
  });

  it('inspect --at: a terminated session is gone after its line', () => {
    const lines = [connect, end].map((l) => parseJournalLine(JSON.stringify(l)));
    expect(connectionsAt(lines, Date.parse('2026-11-24T10:00:30.000Z')).connections.map((c) => c.sessionId)).toEqual(['s1']);
    expect(connectionsAt(lines, Date.parse('2026-11-24T10:02:00.000Z')).connections).toEqual([]);
  });
});
