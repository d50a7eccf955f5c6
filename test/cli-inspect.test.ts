/**
 * `mcp-monitor inspect`: the verdict of real writers (running, stopped, killed, hung), every
 * damaged file, every exit code, and `--at` rebuilt from the journal of a real run.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderTable } from '../cli/table.js';
import { closeClients, connectClient } from './helpers/mcp-client.js';
import { cleanup, makeStateDir, run } from './helpers/processes.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(async () => {
  await closeClients();
  await cleanup();
});

/** One clear line on stderr, no stack trace. */
function oneLine(stderr: string, re: RegExp): void {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(re);
  expect(stderr).not.toMatch(/\n\s+at /);
}

function snapshotJson(over: Record<string, unknown> = {}): string {
  const now = new Date().toISOString();
  return JSON.stringify({
    schema: 'mcp-monitor/snapshot@1', serverId: 'default', pid: process.pid, seq: 3, status: 'running', reason: 'heartbeat',
    startedAt: now, writtenAt: now, heartbeatMs: 1000, mcp: null, activeConnections: 0, totalConnections: 0, lastUpdated: now, connections: [], ...over,
  }) + '\n';
}

describe('inspect: the verdict of a real writer', () => {
  it('running: summary, connections table and exit 0; --json is the data alone', async () => {
    const { stateDir, url, proc } = await startServer();
    const c = await connectClient(url, { name: 'table-client', version: '9.9', userAgent: 'table-agent/2' });
    await waitSnap(stateDir, (s) => s.activeConnections === 1, 'the session');
    const r = await run(['inspect', '--state-dir', stateDir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^default: running \\(pid ${proc.pid},`));
    expect(r.stdout).toMatch(/SESSION\s+ERA\s+IP\s+CLIENT\s+USER AGENT/);
    expect(r.stdout).toMatch(new RegExp(`${c.sessionId}\\s+legacy\\s+127\\.0\\.0\\.1`));
    expect(r.stdout).toMatch(/sessions {3}1 active \(0 modern\), 1 total/);
    expect(r.stdout).toContain(c.sessionId);
    expect(r.stdout).toMatch(/127\.0\.0\.1\s+table-client 9\.9\s+table-agent\/2/);
    // Not a terminal: no colour codes, nothing cut.
    expect(r.stdout).not.toContain('\u001b[');

    for (const target of [path.join(stateDir, 'default'), path.join(stateDir, 'default', 'snapshot.json')]) {
      const j = await run(['inspect', target, '--json']);
      expect(j.code).toBe(0);
      const body = JSON.parse(j.stdout);
      expect(body.servers).toHaveLength(1);
      expect(body.servers[0]).toMatchObject({ serverId: 'default', verdict: 'running', snapshot: { pid: proc.pid, activeConnections: 1 } });
      expect(body.servers[0].snapshot.connections[0].sessionId).toBe(c.sessionId);
    }
  });

  it('stopped cleanly: exit 3', async () => {
    const { stateDir, proc } = await startServer();
    await proc.stop('SIGTERM');
    const r = await run(['inspect', '--state-dir', stateDir]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(new RegExp(`default: stopped cleanly at \\S+ \\(pid ${proc.pid}\\)`));
    expect(JSON.parse((await run(['inspect', '--state-dir', stateDir, '--json'])).stdout).servers[0].verdict).toBe('stopped');
  });

  it('killed: stale since its last heartbeat, exit 4', async () => {
    const { stateDir, proc } = await startServer();
    await proc.stop('SIGKILL');
    const last = await readSnap(stateDir);
    const r = await run(['inspect', '--state-dir', stateDir]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(`default: stale since ${last.writtenAt}`);
    expect(r.stdout).toContain(`pid ${proc.pid} is not running`);
    const j = JSON.parse((await run(['inspect', '--state-dir', stateDir, '--json'])).stdout);
    expect(j.servers[0]).toMatchObject({ verdict: 'stale', since: last.writtenAt });
  });

  it('hung: a live pid whose heartbeat is late and whose lock is not held is stale', async () => {
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'default'));
    const old = new Date(Date.now() - 60_000).toISOString();
    await writeFile(path.join(stateDir, 'default', 'snapshot.json'), snapshotJson({ writtenAt: old, startedAt: old, lastUpdated: old }));
    const r = await run(['inspect', '--state-dir', stateDir]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/stale since .*no heartbeat for 1m 0s \(heartbeat 1s\); the lock is not held/);
    expect(r.stdout).not.toMatch(/is not running/);
  });
});

describe('inspect: damaged and missing files get exit 4 and one line naming the file', () => {
  it.each([
    ['corrupt', '{"schema": "mcp-monitor/snap', /snapshot\.json: invalid snapshot: snapshot is not JSON/],
    ['empty', '', /snapshot\.json: invalid snapshot: snapshot is empty/],
    ['foreign', '{"name":"some-package","version":"1.0.0"}\n', /snapshot\.json: invalid snapshot: schema is missing/],
    ['another schema', snapshotJson({ schema: 'other/thing@2' }), /snapshot\.json: invalid snapshot: schema is "other\/thing@2"/],
    ['missing a field', snapshotJson({ connections: undefined }), /snapshot\.json: invalid snapshot: connections is missing/],
  ])('%s', async (_name, text, re) => {
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'default'));
    const file = path.join(stateDir, 'default', 'snapshot.json');
    await writeFile(file, text);
    for (const args of [['inspect', '--state-dir', stateDir], ['inspect', file], ['inspect', file, '--json']]) {
      const r = await run(args);
      expect(r.code).toBe(4);
      oneLine(r.stderr, re);
      expect(r.stderr).toContain(file);
    }
  });

  it('truncated: the first half of a real snapshot', async () => {
    const { stateDir, proc } = await startServer();
    await proc.stop('SIGTERM');
    const file = path.join(stateDir, 'default', 'snapshot.json');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.slice(0, text.length >> 1));
    const r = await run(['inspect', file]);
    expect(r.code).toBe(4);
    oneLine(r.stderr, new RegExp(`^mcp-monitor inspect: ${file}: invalid snapshot: snapshot is not JSON`));
  });

  it('missing file, missing state directory, a directory with no snapshots', async () => {
    const stateDir = await makeStateDir();
    const gone = path.join(stateDir, 'nope', 'snapshot.json');
    oneLine((await run(['inspect', gone])).stderr, new RegExp(`${gone}: no such file or directory`));
    expect((await run(['inspect', gone])).code).toBe(4);
    const r = await run(['inspect', '--state-dir', path.join(stateDir, 'absent')]);
    expect(r.code).toBe(4);
    oneLine(r.stderr, /absent: state directory: no such file or directory/);
    const empty = await run(['inspect', stateDir]);
    expect(empty.code).toBe(4);
    oneLine(empty.stderr, /no snapshots found/);
    // A --server-id that is not there.
    const none = await run(['inspect', '--state-dir', stateDir, '--server-id', 'ghost']);
    expect(none.code).toBe(4);
    oneLine(none.stderr, /ghost[/\\]snapshot\.json: no such file/);
  });

  it('a state directory with one good and one corrupt server prints the good one and exits 4', async () => {
    const { stateDir, proc } = await startServer({ serverId: 'good' });
    await mkdir(path.join(stateDir, 'bad'));
    await writeFile(path.join(stateDir, 'bad', 'snapshot.json'), 'garbage');
    const r = await run(['inspect', '--state-dir', stateDir]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`good: running \\(pid ${proc.pid}`));
    expect(r.stdout).toMatch(/bad: invalid: .*bad[/\\]snapshot\.json: invalid snapshot/);
    oneLine(r.stderr, /bad[/\\]snapshot\.json: invalid snapshot: snapshot is not JSON/);
    // Only the good one: 0.
    expect((await run(['inspect', '--state-dir', stateDir, '--server-id', 'good'])).code).toBe(0);
  });
});

describe('inspect: bad usage is exit 2', () => {
  it.each([
    [['inspect', '--nope'], /Unknown option '--nope'/],
    [['inspect', '--at', 'yesterday'], /Invalid --at: "yesterday"/],
    [['inspect', 'a', 'b'], /unexpected argument "b"/],
    [['inspect', '--server-id', 'a/b'], /Invalid --server-id: "a\/b"/],
  ])('%j', async (args, re) => {
    const r = await run(args, { cwd: await makeStateDir() });
    expect(r.code).toBe(2);
    oneLine(r.stderr, re);
    expect(r.stdout).toBe('');
  });
});

describe('inspect --at: who was connected, from the journal of a real run', () => {
  it('rebuilds the sessions open at each moment, before and after the writer stopped', async () => {
    const { stateDir, url, proc } = await startServer();
    const t0 = Date.now();
    const a = await connectClient(url, { name: 'alpha' });
    const b = await connectClient(url, { name: 'beta', userAgent: 'beta-agent' });
    await waitSnap(stateDir, (s) => s.activeConnections === 2, 'two sessions');
    const t1 = Date.now();
    await waitFor(() => Date.now() > t1, { what: 'the clock to move' });
    await a.terminate();
    await waitSnap(stateDir, (s) => s.activeConnections === 1, 'alpha gone');
    const t2 = Date.now();
    await waitFor(() => Date.now() > t2, { what: 'the clock to move' });
    await proc.stop('SIGTERM');

    const at = async (t: number | string) => {
      const r = await run(['inspect', '--state-dir', stateDir, '--json', '--at', String(t)]);
      expect(r.code).toBe(3); // the verdict is of now: stopped cleanly
      const s = JSON.parse(r.stdout).servers[0];
      return { s, stderr: r.stderr, ids: (s.connections as { sessionId: string }[]).map((c) => c.sessionId) };
    };
    expect((await at(t1)).ids).toEqual([a.sessionId, b.sessionId]);
    const mid = await at(new Date(t2).toISOString());
    expect(mid.ids).toEqual([b.sessionId]);
    expect(mid.s.at).toBe(new Date(t2).toISOString());
    expect(mid.s.connections[0]).toMatchObject({ clientIP: '127.0.0.1', userAgent: 'beta-agent', clientInfo: { name: 'beta' }, era: 'legacy' });
    expect((await at(Date.now())).ids).toEqual([]);
    expect((await at(t0 - 1)).ids).toEqual([]);
    // Before the first line: nothing is known, and stderr says so.
    const before = await at(t0 - 60_000);
    expect(before.ids).toEqual([]);
    expect(before.stderr).toMatch(/the journal begins at .*; who was connected before that is not known/);
    // Relative times are taken too.
    expect((await at('1h')).ids).toEqual([]);

    // The human table.
    const human = await run(['inspect', '--state-dir', stateDir, '--at', String(t1)]);
    expect(human.stdout).toMatch(/at \S+ \(from the journal, writer pid \d+ up\): 2 connected/);
    expect(human.stdout).toContain(a.sessionId);
  });

  it('without a journal: exit 4 and one line naming it', async () => {
    const stateDir = await makeStateDir();
    await mkdir(path.join(stateDir, 'default'));
    await writeFile(path.join(stateDir, 'default', 'snapshot.json'), snapshotJson({ status: 'stopped' }));
    const r = await run(['inspect', '--state-dir', stateDir, '--at', '5m']);
    expect(r.code).toBe(4);
    oneLine(r.stderr, /events\.jsonl: no such file \(no journal\)/);
  });
});

describe('tables', () => {
  it('fit the width given, cutting the widest columns with …', () => {
    const rows = [['0123456789abcdef0123456789abcdef', '127.0.0.1', 'a-very-long-client-name 1.0.0', 'Mozilla/5.0 (X11; Linux x86_64)', '4']];
    const lines = renderTable(['SESSION', 'IP', 'CLIENT', 'USER AGENT', 'REQS'], rows, { width: 60 });
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(60);
    expect(lines[1]).toContain('…');
    expect(lines[1]).toMatch(/4$/);
    const wide = renderTable(['SESSION', 'IP', 'CLIENT', 'USER AGENT', 'REQS'], rows);
    expect(wide[1]).toContain(rows[0]![0]);
    expect(wide[1]).not.toContain('…');
  });
});

