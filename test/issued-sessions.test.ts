/**
 * IssuedSessions (server/backends/upstream/issued-sessions.ts): the file of the session ids an upstream
 * issued is bounded, aged, 0600, and never read or written through a link planted in its place.
 */
import { lstat, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ISSUED_SESSIONS_FILE, IssuedSessions } from '../server/backends/upstream/issued-sessions.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'issued-'));
  dirs.push(d);
  return d;
}

function issued(dir: string, o: { max?: number; idleMs?: number; open?: Set<string>; clock?: () => number; lines?: string[] } = {}): IssuedSessions {
  const lines = o.lines ?? [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
  const open = o.open ?? new Set<string>();
  return new IssuedSessions({ dir, max: o.max ?? 2, idleMs: o.idleMs ?? 0, isOpen: (id) => open.has(id), logger, clock: o.clock });
}

const fileOf = (dir: string) => path.join(dir, ISSUED_SESSIONS_FILE);
const idsIn = async (dir: string) => (JSON.parse(await readFile(fileOf(dir), 'utf8')) as { ids: string[] }).ids;

describe('the ids an upstream issued', () => {
  it('are kept for the next child (0600), at most twice --max-sessions, the oldest unlisted forgotten first', async () => {
    const dir = await tempDir();
    const open = new Set(['a']);
    const first = issued(dir, { max: 2, open });
    for (const id of ['a', 'b', 'c', 'd', 'e']) first.add(id);
    await first.close();
    // a is listed: kept though oldest; b, the oldest unlisted, forgotten.
    expect(await idsIn(dir)).toEqual(['a', 'c', 'd', 'e']);
    expect((await lstat(fileOf(dir))).mode & 0o777).toBe(0o600);
    const next = issued(dir, { max: 2 });
    await next.load();
    expect(['a', 'b', 'c', 'd', 'e'].map((id) => next.adoptable(id))).toEqual([true, false, true, true, true]);
    next.forget('c');
    await next.close();
    expect(await idsIn(dir)).toEqual(['a', 'd', 'e']);
  });

  it('an unlisted id not seen for --session-idle-ms is forgotten', async () => {
    const dir = await tempDir();
    let now = 0;
    const open = new Set<string>();
    const s = issued(dir, { idleMs: 1000, open, clock: () => now });
    s.add('old');
    s.add('listed');
    open.add('listed');
    now = 1001;
    expect(s.adoptable('old')).toBe(false);
    expect(s.adoptable('listed')).toBe(true);
    await s.close();
    expect(await idsIn(dir)).toEqual(['listed']);
  });

  it('a link planted as the file is neither read nor written through; a file too large or invalid is not believed', async () => {
    const dir = await tempDir();
    const target = path.join(await tempDir(), 'elsewhere.json');
    await writeFile(target, JSON.stringify({ ids: ['planted'] }));
    await symlink(target, fileOf(dir));
    const lines: string[] = [];
    const s = issued(dir, { lines });
    await s.load();
    expect(s.adoptable('planted')).toBe(false);
    expect(lines.join('')).toContain('issued upstream session ids unreadable');
    s.add('mine');
    await s.close();
    // The link was replaced, its target left as it was.
    expect((await lstat(fileOf(dir))).isSymbolicLink()).toBe(false);
    expect(await readFile(target, 'utf8')).toBe(JSON.stringify({ ids: ['planted'] }));
    await expect(readlink(fileOf(dir))).rejects.toThrow();

    await writeFile(fileOf(dir), JSON.stringify({ ids: ['x'.repeat(250), ...Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(250, 'y'))] }));
    const big = issued(dir, { max: 2, lines });
    await big.load();
    expect(big.size).toBe(0);
    expect(lines.join('')).toContain('larger than');

    await writeFile(fileOf(dir), '{"ids":"m-0123"}');
    const bad = issued(dir, { lines });
    await bad.load();
    expect(bad.size).toBe(0);
    expect(lines.join('')).toContain('issued upstream session ids invalid');

    // Ids that may not be listed are dropped as they are read.
    await writeFile(fileOf(dir), JSON.stringify({ ids: ['m-0123456789abcdef', 'ok', 42] }));
    const mixed = issued(dir);
    await mixed.load();
    expect(mixed.size).toBe(1);
    expect(mixed.adoptable('ok')).toBe(true);
  });
});
