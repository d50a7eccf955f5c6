/**
 * `mcp-monitor calls` from the built bin: every line of the journal, rotated files first;
 * `--json` as the lines are; a table whose client strings cannot reach the terminal raw;
 * `--since`; exit codes 0 (whatever there is), 2 (bad usage), 4 (no server directory); and
 * `--follow` across rotations of a real CallsJournal under its lock.
 */
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CallsJournal } from '../server/publish/calls-journal.js';
import { WriterLock } from '../server/publish/writer-lock.js';
import { appendCalls, at, callOf } from './helpers/calls-files.js';
import { cleanup, makeStateDir, Proc, run } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await cleanup();
});

const calls = (stateDir: string, ...args: string[]) => run(['calls', '--state-dir', stateDir, ...args]);

describe('mcp-monitor calls', () => {
  it('prints every line, oldest file first; --json as the lines are; the table escapes client strings', async () => {
    const stateDir = await makeStateDir();
    const lines = [callOf(1, at(1)), callOf(2, at(2), { name: 'other' }), callOf(3, at(3), { outcome: 'error', errorCode: -32603 })];
    await appendCalls(stateDir, 'srv', [lines[0]], 'calls.2.jsonl');
    await appendCalls(stateDir, 'srv', [lines[1]], 'calls.1.jsonl');
    await appendCalls(stateDir, 'srv', [lines[2]]);
    const json = await calls(stateDir, '--server-id', 'srv', '--json');
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    expect(json.stdout.split('\n')).toEqual(lines.map((l) => JSON.stringify(l)));

    // A hand-written line with control characters (the writer strips them; a reader trusts no file).
    await appendCalls(stateDir, 'srv', [callOf(4, at(4), { client: 'evil\u001b]0;pwned\u0007', name: 'n\u009b2J', sessionId: 'm-00000000000000aa', era: 'modern' })]);
    const table = await calls(stateDir, '--server-id', 'srv');
    expect(table.code).toBe(0);
    const rows = table.stdout.split('\n');
    expect(rows[0]).toMatch(/^TIME\s+CLIENT\s+SESSION\s+METHOD\s+NAME\s+DURATION\s+OUTCOME$/);
    expect(rows).toHaveLength(5);
    expect(rows[1]).toMatch(/^2026-12-04T10:00:01\.000Z\s+test-client\s+sess-a\s+tools\/call\s+echo\s+1\.25ms\s+ok$/);
    expect(rows[3]).toMatch(/error -32603$/);
    expect(rows[4]).toContain('evil\\u001b]0;pwned\\u0007');
    expect(rows[4]).toContain('n\\u009b2J');
    expect(table.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });

  it('--since keeps the calls that ended at or after it: an ISO time (inclusive) or a time ago', async () => {
    const stateDir = await makeStateDir();
    await appendCalls(stateDir, 'default', [callOf(1, at(1)), callOf(2, at(2)), callOf(3, at(3))]);
    const iso = await calls(stateDir, '--since', at(2), '--json');
    expect(iso.code).toBe(0);
    expect(iso.stdout.split('\n').map((l) => JSON.parse(l).seq)).toEqual([2, 3]);

    const now = Date.now();
    const dir2 = await makeStateDir();
    await appendCalls(dir2, 'default', [callOf(1, new Date(now - 10 * 60_000).toISOString()), callOf(2, new Date(now - 60_000).toISOString())]);
    const ago = await calls(dir2, '--since', '5m', '--json');
    expect(ago.stdout.split('\n').map((l) => JSON.parse(l).seq)).toEqual([2]);
    const none = await calls(dir2, '--since', '30s', '--json');
    expect(none).toMatchObject({ code: 0, stdout: '' });
  });

  it('exit codes: 0 with nothing to print or lines it skips, 2 for bad usage, 4 without the server directory', async () => {
    const stateDir = await makeStateDir();
    const missing = await calls(stateDir, '--server-id', 'nope');
    expect(missing.code).toBe(4);
    expect(missing.stderr).toBe(`mcp-monitor calls: no server "nope" in ${stateDir} (no directory ${path.join(stateDir, 'nope')})`);

    await appendCalls(stateDir, 'empty', [], 'unrelated.txt');
    expect(await calls(stateDir, '--server-id', 'empty', '--json')).toMatchObject({ code: 0, stdout: '', stderr: '' });

    await appendCalls(stateDir, 'bad', ['not json', callOf(1, at(1))]);
    const bad = await calls(stateDir, '--server-id', 'bad', '--json');
    expect(bad.code).toBe(0);
    expect(bad.stdout).toBe(JSON.stringify(callOf(1, at(1))));
    expect(bad.stderr).toMatch(/^mcp-monitor calls: .*calls\.jsonl: not a calls line \(not JSON/);

    for (const args of [['--since', 'yesterday'], ['--bogus'], ['--server-id', '../x'], ['extra']]) {
      const r = await calls(stateDir, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^mcp-monitor calls: /);
    }
  });

  it('--follow prints each new line once, in order, across rotations, and exits 0 on SIGTERM', async () => {
    const stateDir = await makeStateDir();
    const logger = pino({ level: 'silent' });
    const lock = new WriterLock({ stateDir, serverId: 's', logger });
    await lock.start();
    closers.push(() => lock.close());
    const journal = new CallsJournal({ stateDir, serverId: 's', lock, logger, maxBytes: 1024, files: 3, flushMs: 60_000 });
    closers.push(() => journal.close());
    await journal.start();
    const proc = new Proc(['calls', '--state-dir', stateDir, '--server-id', 's', '--follow', '--json']);
    const printed = () => proc.stdout.filter(Boolean).map((l) => JSON.parse(l).seq as number);
    let told = 0;
    for (let round = 0; round < 5; round += 1) {
      // About 1.6 KiB a round: at least one rotation each.
      for (let i = 0; i < 8; i += 1) {
        told += 1;
        journal.finished({ endedAtMs: Date.now(), seconds: 0.002, sessionId: 'sess-f', era: 'legacy', client: 'follow', method: 'tools/call', name: `tool-${told}`, outcome: 'ok', errorCode: null, answered: true });
      }
      await journal.flush();
      await waitFor(() => printed().length >= told, { what: `${told} lines printed (${proc.stderr.join(' | ')})` });
    }
    expect(printed()).toEqual(Array.from({ length: told }, (_, i) => i + 1));
    expect(proc.stderr).toEqual([]);
    expect(await proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
