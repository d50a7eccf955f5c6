/**
 * The reaper of stdio process groups: it kills only on an exact (bootId, pid,
 * startTicks, uid) match, with no wall clock; EPERM is a result, never a throw, and a writer
 * whose previous snapshot lists a process it may not kill keeps the counters carried over. Real
 * processes throughout: `setsid sleep` targets, a real `mcp-monitor server` reading a crafted
 * previous snapshot, and a real unprivileged process (uid 65534: the tests run as root).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { reapProcesses } from '../shared/io/process-groups.js';
import { processIdentity, procStat, type ProcessIdentity } from '../shared/io/process-identity.js';
import { SNAPSHOT_SCHEMA, type SnapshotProcess } from '../shared/snapshot.js';
import { cleanup, isAlive, makeStateDir } from './helpers/processes.js';
import { readSnap, startServer, waitSnap } from './helpers/server-process.js';
import { NOBODY, removeCopyForNobody, rootForNobody } from './helpers/unprivileged.js';
import { waitFor } from './helpers/wait-for.js';

afterAll(removeCopyForNobody);
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.pid !== undefined && isAlive(c.pid)) process.kill(c.pid, 'SIGKILL');
  await cleanup();
});

/** A root `setsid sleep 60`: it leads its own session and group, as a `--command` process does. */
async function leader(): Promise<ProcessIdentity> {
  const c = spawn('setsid', ['sleep', '60'], { stdio: 'ignore' });
  children.push(c);
  await new Promise((resolve) => c.once('spawn', resolve));
  // setsid execs sleep in place (we are no group leader), so the pid leads the new session.
  const id = await waitFor(() => {
    const st = procStat(c.pid!);
    return st !== undefined && st.session === c.pid && st.pgrp === c.pid ? processIdentity(c.pid!) : undefined;
  }, { timeout: 5000, what: 'setsid sleep leading its session' });
  expect(id.uid).toBe(0);
  return id;
}

const entry = (id: ProcessIdentity, over: Partial<SnapshotProcess> = {}): SnapshotProcess => ({ ...id, sessionId: 's1', ...over });

/** A previous writer's last snapshot, as it died: `running`, one session on `id`'s process. */
function deadWriterSnapshot(id: ProcessIdentity, listed: SnapshotProcess): string {
  const now = new Date().toISOString();
  return `${JSON.stringify({
    schema: SNAPSHOT_SCHEMA, serverId: 'default', pid: 2_000_000_000, seq: 9, status: 'running', reason: 'heartbeat',
    startedAt: now, writtenAt: now, heartbeatMs: 1000, mcp: null, activeConnections: 1, totalConnections: 7, lastUpdated: now,
    connections: [{ sessionId: 's1', clientIP: '127.0.0.1', userAgent: null, connectedAt: now, lastActivity: now, requestCount: 1, clientInfo: null, protocolVersion: null, process: { pid: id.pid, rssBytes: null } }],
    processes: [listed],
  })}\n`;
}

async function stateDirWith(snapshot: string, owner?: number): Promise<string> {
  const stateDir = await makeStateDir();
  const dir = path.join(stateDir, 'default');
  await mkdir(dir, { mode: 0o700 });
  await writeFile(path.join(dir, 'snapshot.json'), snapshot, { mode: 0o600 });
  if (owner !== undefined) for (const p of [stateDir, dir, path.join(dir, 'snapshot.json')]) await chown(p, owner, owner);
  return stateDir;
}

describe('reapProcesses: only an exact identity is killed', () => {
  it('leaves a live leader alone when its start ticks, uid or boot id differ, and kills it on an exact match', async () => {
    const id = await leader();
    const results = reapProcesses([entry(id, { startTicks: id.startTicks + 1 }), entry(id, { startTicks: id.startTicks - 1 }), entry(id, { uid: 1000 }), entry(id, { bootId: '00000000-0000-0000-0000-000000000000' })]);
    expect(results.map((r) => r.outcome)).toEqual(['other', 'other', 'other', 'other']);
    expect(isAlive(id.pid)).toBe(true);
    expect(reapProcesses([entry(id)])).toEqual([{ pid: id.pid, sessionId: 's1', outcome: 'killed' }]);
    // Gone once its parent has reaped it: a zombie still has its /proc entry, and its group may
    // still have members, so the reaper kills it again rather than call it gone.
    await waitFor(() => !existsSync(`/proc/${id.pid}`), { timeout: 5000, what: 'the exact match killed and reaped' });
    expect(reapProcesses([entry(id)])[0]!.outcome).toBe('gone');
  });

  it('as another user (EPERM): does not throw, says denied, and the process lives', async () => {
    const id = await leader();
    const root = await rootForNobody();
    const script = `import(${JSON.stringify(path.join(root, 'dist', 'shared', 'io', 'process-groups.js'))}).then((m) => process.stdout.write(JSON.stringify(m.reapProcesses(${JSON.stringify([entry(id)])}))))`;
    const c = spawn(process.execPath, ['-e', script], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((resolve) => c.once('exit', resolve));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(out)).toEqual([{ pid: id.pid, sessionId: 's1', outcome: 'denied', error: 'kill EPERM' }]);
    expect(isAlive(id.pid)).toBe(true);
  });
});

describe('the next writer of a dead one', () => {
  it('does not kill a listed live pid whose start ticks differ (pid reused), and carries the counters over', async () => {
    const id = await leader();
    const stateDir = await stateDirWith(deadWriterSnapshot(id, entry(id, { startTicks: id.startTicks + 1 })));
    await startServer({ stateDir });
    expect(isAlive(id.pid)).toBe(true);
    const snap = await readSnap(stateDir);
    expect(snap.totalConnections).toBe(7);
    expect(snap.sessionsClosed?.shutdown).toBe(1);
  });

  it('kills a listed process whose identity matches exactly', async () => {
    const id = await leader();
    const stateDir = await stateDirWith(deadWriterSnapshot(id, entry(id)));
    const { proc } = await startServer({ stateDir });
    await waitFor(() => !isAlive(id.pid), { timeout: 5000, what: 'the listed process ended' });
    expect(proc.logs().find((l) => l.msg === 'ended the stdio server processes the previous writer left')).toMatchObject({ pids: [id.pid] });
  });

  it('running as another user (EPERM on a root process): keeps serving and keeps the counters', async () => {
    const id = await leader();
    const stateDir = await stateDirWith(deadWriterSnapshot(id, entry(id)), NOBODY);
    const root = await rootForNobody();
    const c = spawn(process.execPath, [path.join(root, 'bin', 'mcp-monitor.js'), 'server', '--mcp-port', '0', '--heartbeat-ms', '1000', '--state-dir', stateDir], {
      cwd: root, uid: NOBODY, gid: NOBODY, env: { ...process.env, HOME: '/tmp', MCP_MONITOR_LOG_LEVEL: 'debug' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(c);
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const snap = await waitSnap(stateDir, (s) => s.status === 'running' && s.pid === c.pid, `the server running as nobody (${err.slice(-300)})`, 'default', 20_000);
    expect(snap.totalConnections).toBe(7);
    expect(snap.sessionsClosed?.shutdown).toBe(1);
    expect(err).toContain('cannot end a stdio server process that a dead writer left');
    expect(err).not.toContain('previous snapshot unreadable');
    expect(isAlive(id.pid)).toBe(true);
  });
});

describe('groupRssBytes', () => {
  it('sums the members of each group among the leader and its descendants, asynchronously', async () => {
    const { groupRssBytes } = await import('../shared/io/process-groups.js');
    const { readFileSync, readdirSync } = await import('node:fs');
    // A leader with two children in its group, and one grandchild that left it (its own session).
    const c = spawn('sh', ['-c', 'sleep 60 & sleep 60 & setsid sleep 60 & wait'], { detached: true, stdio: 'ignore' });
    children.push(c);
    const pgid = c.pid!;
    const rssOf = (pid: number) => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
    // The reference: every process of the group, by a full pass over /proc.
    const members = await waitFor(() => {
      const m = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => procStat(pid)?.pgrp === pgid);
      const kids = readFileSync(`/proc/${pgid}/task/${pgid}/children`, 'utf8').trim().split(' ');
      return m.length === 3 && kids.length === 3 ? m : undefined;
    }, { timeout: 5000, what: 'the leader, its two sleeps and the one in its own session' });
    const pending = groupRssBytes(new Set([pgid, 2_000_000_000]));
    expect(pending).toBeInstanceOf(Promise);
    const rss = await pending;
    expect([...rss.keys()]).toEqual([pgid]);
    expect(rss.get(pgid)).toBe(members.reduce((a, pid) => a + rssOf(pid), 0));
    // The one that left the group is not in -pgid: end it by its pid.
    const kids = readFileSync(`/proc/${pgid}/task/${pgid}/children`, 'utf8').trim().split(' ').map(Number);
    process.kill(-pgid, 'SIGKILL');
    for (const pid of kids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
});
