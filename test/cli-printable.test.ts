/**
 * What a client chose (clientInfo, User-Agent, session id, …) never reaches the operator's terminal
 * raw (a raw ESC could set the title or clear the screen): `tail`, `inspect`, `inspect --at` and
 * `status` escape control characters, and tables cut by code points after escaping.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { printable } from '../cli/output.js';
import { cut, renderTable } from '../cli/table.js';
import { serializeJournalLine } from '../shared/journal.js';
import { SNAPSHOT_SCHEMA } from '../shared/snapshot.js';
import { Proc, cleanup, makeStateDir, run } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(cleanup);

const EVIL = 'evil\u001b]0;PWNED\u0007\u001b[2J\u009b31m';
/** ESC, BEL, C1 CSI: none may reach the terminal. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

async function evilStateDir(): Promise<string> {
  const stateDir = await makeStateDir();
  const dir = path.join(stateDir, 'default');
  await mkdir(dir);
  await mkdir(path.join(dir, 'snapshot.json.lock'));
  const now = new Date().toISOString();
  const c = { sessionId: `s-${EVIL}`, clientIP: `10.0.0.1${EVIL}`, userAgent: `ua-${EVIL}`, connectedAt: now, lastActivity: now, requestCount: 1, clientInfo: { name: EVIL, version: EVIL }, protocolVersion: EVIL };
  await writeFile(path.join(dir, 'snapshot.json'), `${JSON.stringify({
    schema: SNAPSHOT_SCHEMA, serverId: 'default', pid: process.pid, seq: 2, status: 'running', reason: 'connect', startedAt: now, writtenAt: now, heartbeatMs: 60_000,
    mcp: { url: `http://x/${EVIL}`, endpoint: '/mcp', port: 1 }, activeConnections: 1, totalConnections: 1, lastUpdated: now, connections: [c],
  })}\n`);
  await writeFile(path.join(dir, 'events.jsonl'), [
    { event: 'start' as const, ts: now, pid: process.pid, seq: 1, startedAt: now },
    { event: 'connect' as const, ts: now, pid: process.pid, seq: 2, ...c },
  ].map(serializeJournalLine).join(''));
  // A second server whose file quotes a client's bytes in its error.
  await mkdir(path.join(stateDir, 'broken'));
  await writeFile(path.join(stateDir, 'broken', 'snapshot.json'), JSON.stringify({ schema: EVIL }));
  return stateDir;
}

function clean(text: string): void {
  expect(text).not.toMatch(CONTROL);
}

describe('client strings in the terminal', () => {
  it('inspect, inspect --at and status escape them (stdout and stderr)', async () => {
    const stateDir = await evilStateDir();
    for (const args of [['inspect', '--state-dir', stateDir], ['inspect', '--state-dir', stateDir, '--at', String(Date.now() + 1000)], ['status', '--state-dir', stateDir]]) {
      const r = await run(args);
      clean(r.stdout);
      clean(r.stderr);
      expect(r.stdout + r.stderr).toContain('evil\\u001b]0;PWNED\\u0007\\u001b[2J\\u009b31m');
    }
    const inspect = await run(['inspect', '--state-dir', stateDir, '--server-id', 'default']);
    expect(inspect.stdout).toContain(`s-${printable(EVIL)}`);
    expect(inspect.stdout).toContain(`ua-${printable(EVIL)}`);
  });

  it('tail escapes them in the state, and in events that come later', async () => {
    const stateDir = await evilStateDir();
    const tail = new Proc(['tail', '--state-dir', stateDir]);
    await waitFor(() => tail.stdout.some((l) => l.includes(' open ')), { what: 'the open session' });
    await appendFile(path.join(stateDir, 'default', 'events.jsonl'), serializeJournalLine({
      event: 'disconnect', ts: new Date().toISOString(), pid: process.pid, seq: 3, sessionId: `s-${EVIL}`, reason: 'delete', durationMs: 5, requestCount: 1, clientInfo: { name: EVIL, version: '1' },
    }));
    await waitFor(() => tail.stdout.some((l) => / disconnect /.test(l)), { what: 'the disconnect line' });
    expect((await tail.stop('SIGINT')).code).toBe(0);
    const out = tail.stdout.join('\n');
    clean(out);
    clean(tail.stderr.join('\n'));
    expect(out).toContain(`${printable(EVIL)} ${printable(EVIL)}`);
    expect(out).toContain(`s-${printable(EVIL)} (legacy, 10.0.0.1${printable(EVIL)}, ${printable(EVIL)} 1) reason delete`);
  });

  it('printable escapes C0, DEL and C1 as JSON does, and nothing else', () => {
    expect(printable('a\u001bb\u0007c\n\t\u007f\u0085\u009b é 😀 \\')).toBe('a\\u001bb\\u0007c\\n\\t\\u007f\\u0085\\u009b é 😀 \\');
  });

  it('tables cut by code points, never inside a surrogate pair', () => {
    expect(cut('😀😀😀😀😀😀😀😀', 4)).toBe('😀😀😀…');
    const lines = renderTable(['A', 'B'], [['😀'.repeat(20), 'x']], { width: 12 });
    expect(lines[1]).toBe(`${'😀'.repeat(8)}…  x`);
    expect(lines[1]).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});
