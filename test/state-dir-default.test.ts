/**
 * The default state directory, with neither --state-dir nor MCP_MONITOR_STATE_DIR: `./state`
 * when it holds the marker `.mcp-monitor`, else `$XDG_STATE_HOME/mcp-monitor` (an absolute one)
 * or `~/.local/state/mcp-monitor`. Real processes with HOME at a temp dir (never the real
 * ~/.local/state); a writer that makes the directory writes the marker; help and the first log
 * line say which directory.
 */
import { lstat, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultStateDir } from '../shared/default-state-dir.js';
import { ensureStateDir } from '../shared/io/state-dir.js';
import { STATE_DIR_MARKER } from '../shared/user-state-dir.js';
import { cleanup, makeStateDir, Proc, ROOT, run } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

afterEach(cleanup);

/** An environment with no state directory setting and HOME at `home`. */
function envOf(home: string, xdg?: string): NodeJS.ProcessEnv {
  return { HOME: home, XDG_STATE_HOME: xdg, MCP_MONITOR_STATE_DIR: undefined };
}

/** A cwd with `state/.mcp-monitor` in it when `marked`, an empty `state/` otherwise. */
async function cwdWith(marked: boolean): Promise<string> {
  const cwd = await makeStateDir();
  await mkdir(path.join(cwd, 'state'));
  if (marked) await writeFile(path.join(cwd, 'state', STATE_DIR_MARKER), '');
  return cwd;
}

describe('defaultStateDir', () => {
  it('is ./state with the marker, else the per-user directory (XDG_STATE_HOME absolute only)', async () => {
    const marked = await cwdWith(true);
    const unmarked = await cwdWith(false);
    expect(defaultStateDir(marked, { XDG_STATE_HOME: '/x/state' })).toBe(path.join(marked, 'state'));
    expect(defaultStateDir(unmarked, { XDG_STATE_HOME: '/x/state' })).toBe('/x/state/mcp-monitor');
    expect(defaultStateDir(unmarked, { XDG_STATE_HOME: 'rel/state' })).toMatch(/\/\.local\/state\/mcp-monitor$/);
    // A directory named like the marker is not the marker.
    const odd = await cwdWith(false);
    await mkdir(path.join(odd, 'state', STATE_DIR_MARKER));
    expect(defaultStateDir(odd, { XDG_STATE_HOME: '/x/state' })).toBe('/x/state/mcp-monitor');
  });

  it('the checkout commits the marker, so npm start in a clone keeps ./state', async () => {
    expect((await stat(path.join(ROOT, 'state', STATE_DIR_MARKER))).isFile()).toBe(true);
    expect(defaultStateDir(ROOT, {})).toBe(path.join(ROOT, 'state'));
  });
});

describe('ensureStateDir and the marker', () => {
  it('writes the marker (0600) in a directory it makes, and none in one that exists', async () => {
    const base = await makeStateDir();
    const made = path.join(base, 'a', 'b');
    await ensureStateDir(made);
    const st = await lstat(path.join(made, STATE_DIR_MARKER));
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    await ensureStateDir(base);
    await expect(lstat(path.join(base, STATE_DIR_MARKER))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('the default state directory of real processes', () => {
  it('server: HOME/.local/state/mcp-monitor without the marker and XDG_STATE_HOME; the marker made; the first log line says it', async () => {
    const home = await makeStateDir();
    const cwd = await cwdWith(false);
    const p = new Proc(['server', '--mcp-port', '0'], { cwd, env: envOf(home) });
    const dir = path.join(home, '.local', 'state', 'mcp-monitor');
    await waitFor(() => readFile(path.join(dir, 'default', 'snapshot.json'), 'utf8').catch(() => undefined), { what: 'the snapshot', timeout: 20_000 });
    expect((await lstat(path.join(dir, STATE_DIR_MARKER))).mode & 0o777).toBe(0o600);
    expect(p.logs()[0]).toMatchObject({ stateDir: dir, stateDirFrom: 'default' });
    expect(p.logs()[0]!.msg).toContain(dir);
    // The cwd's unmarked state/ was left alone.
    await expect(lstat(path.join(cwd, 'state', 'default'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await p.stop()).code).toBe(0);
  });

  it('server: an absolute XDG_STATE_HOME wins over HOME; a relative one is ignored', async () => {
    const home = await makeStateDir();
    const xdg = await makeStateDir();
    const cwd = await cwdWith(false);
    const a = new Proc(['server', '--mcp-port', '0', '--server-id', 'xdg'], { cwd, env: envOf(home, xdg) });
    await waitFor(() => readFile(path.join(xdg, 'mcp-monitor', 'xdg', 'snapshot.json'), 'utf8').catch(() => undefined), { what: 'the snapshot under XDG_STATE_HOME', timeout: 20_000 });
    expect(a.logs()[0]).toMatchObject({ stateDir: path.join(xdg, 'mcp-monitor') });
    const b = new Proc(['server', '--mcp-port', '0', '--server-id', 'rel'], { cwd, env: envOf(home, 'relative/state') });
    await waitFor(() => readFile(path.join(home, '.local', 'state', 'mcp-monitor', 'rel', 'snapshot.json'), 'utf8').catch(() => undefined), { what: 'the snapshot under HOME', timeout: 20_000 });
    await expect(lstat(path.join(cwd, 'relative'))).rejects.toMatchObject({ code: 'ENOENT' });
    await Promise.all([a.stop(), b.stop()]);
  });

  it('server: ./state when it holds the marker (a linked state/ too), whatever XDG_STATE_HOME says', async () => {
    const home = await makeStateDir();
    const xdg = await makeStateDir();
    const cwd = await cwdWith(true);
    const p = new Proc(['server', '--mcp-port', '0'], { cwd, env: envOf(home, xdg) });
    await waitFor(() => readFile(path.join(cwd, 'state', 'default', 'snapshot.json'), 'utf8').catch(() => undefined), { what: 'the snapshot in ./state', timeout: 20_000 });
    expect(p.logs()[0]).toMatchObject({ stateDir: path.join(cwd, 'state') });
    await p.stop();
    const linked = await makeStateDir();
    await symlink(path.join(cwd, 'state'), path.join(linked, 'state'));
    const r = await run(['status', '--json'], { cwd: linked, env: envOf(home, xdg) });
    expect(JSON.parse(r.stdout).servers.map((s: { serverId: string }) => s.serverId)).toEqual(['default']);
  });

  it('an env var or flag still wins over the marker', async () => {
    const cwd = await cwdWith(true);
    const other = await makeStateDir();
    const p = new Proc(['server', '--mcp-port', '0'], { cwd, env: { MCP_MONITOR_STATE_DIR: other } });
    await waitFor(() => readFile(path.join(other, 'default', 'snapshot.json'), 'utf8').catch(() => undefined), { what: 'the snapshot', timeout: 20_000 });
    expect(p.logs()[0]).toMatchObject({ stateDir: other, stateDirFrom: 'env' });
    await p.stop();
  });

  it('start and watch: the first log line names the directory and where it came from', async () => {
    const home = await makeStateDir();
    const cwd = await cwdWith(false);
    const dir = path.join(home, '.local', 'state', 'mcp-monitor');
    for (const args of [['start', '--mcp-port', '0'], ['watch']]) {
      const p = new Proc([...args, '--port', '0'], { cwd, env: envOf(home) });
      await p.waitForLog((l) => l.msg === 'API listening');
      expect(p.logs()[0]).toMatchObject({ stateDir: dir, stateDirFrom: 'default' });
      expect(p.logs()[0]!.msg).toBe(`state directory ${dir} (the default)${args[0] === 'watch' ? '; watching only, spawning nothing' : ''}`);
      expect((await p.stop()).code).toBe(0);
    }
  });

  it('an unusable default exits 2 with one line that names the default, not a flag', async () => {
    const base = await makeStateDir();
    const home = path.join(base, 'a-file');
    await writeFile(home, 'x');
    const cwd = await cwdWith(false);
    const argvs: Record<string, string[]> = { server: ['--mcp-port', '0'], start: ['--port', '0', '--mcp-port', '0'], watch: ['--port', '0'] };
    for (const [command, args] of Object.entries(argvs)) {
      const r = await run([command, ...args], { cwd, env: envOf(home) });
      expect(r.code).toBe(2);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^mcp-monitor ${command}: Invalid state directory \\(the default\\): ${home}/\\.local/state/mcp-monitor: `));
    }
  });

  it('every command that uses the state directory shows the rule and its directory in --help; status names it when it finds no server', async () => {
    const home = await makeStateDir();
    const cwd = await cwdWith(false);
    const dir = path.join(home, '.local', 'state', 'mcp-monitor');
    for (const command of ['start', 'watch', 'server', 'status', 'inspect', 'tail', 'end-session']) {
      const r = await run([command, '--help'], { cwd, env: envOf(home) });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`(default ./state if it holds .mcp-monitor, else ~/.local/state/mcp-monitor; here ${dir})`);
    }
    const marked = await cwdWith(true);
    expect((await run(['status', '--help'], { cwd: marked, env: envOf(home) })).stdout).toContain(`here ${path.join(marked, 'state')})`);
    const xdg = await makeStateDir();
    expect((await run(['status', '--help'], { cwd, env: envOf(home, xdg) })).stdout).toContain(`else $XDG_STATE_HOME/mcp-monitor; here ${path.join(xdg, 'mcp-monitor')})`);
    // No writer ran: help created nothing.
    await expect(lstat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    const status = await run(['status'], { cwd, env: envOf(home) });
    expect(status.code).toBe(4);
    expect(status.stderr).toContain(dir);
  });
});
