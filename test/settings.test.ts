/**
 * Settings: flag beats env beats default, and every bad value stops the
 * program at start with exit 2 and one clear line.
 */
import { userStateDir } from '../shared/user-state-dir.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SETTINGS, UsageError, parseCommand, type SettingKey, type Settings } from '../shared/settings.js';
import { cleanup, makeStateDir, run } from './helpers/processes.js';

afterEach(cleanup);

const ALL = Object.keys(SETTINGS) as SettingKey[];

describe('parseCommand', () => {
  it('gives the defaults', () => {
    const { settings } = parseCommand('start', [], {}, ALL, { cwd: '/srv/app' });
    expect(settings).toEqual({
      port: 3001,
      host: '127.0.0.1',
      mcpPort: 3322,
      mcpHost: '127.0.0.1',
      // /srv/app/state holds no marker: the per-user directory (test/state-dir-default.test.ts).
      stateDir: userStateDir({}),
      serverId: 'default',
      heartbeatMs: 2000,
      token: undefined,
      maxSessions: 1000,
      sessionIdleMs: 1_800_000,
      entry: undefined,
      trustProxy: false,
      allowedHosts: [],
      clientWindowMs: 60_000,
      journalMaxBytes: 10 * 1024 * 1024,
      journalFiles: 5,
      calls: 'on',
      callsMaxBytes: 10 * 1024 * 1024,
      callsFiles: 5,
    });
  });

  it('reads every setting from env, and a flag wins over env', () => {
    const env = {
      MCP_MONITOR_PORT: '4000',
      MCP_MONITOR_HOST: '0.0.0.0',
      MCP_MONITOR_MCP_PORT: '0',
      MCP_MONITOR_MCP_HOST: '::1',
      MCP_MONITOR_STATE_DIR: 'var/state',
      MCP_MONITOR_SERVER_ID: 'edge-1',
      MCP_MONITOR_HEARTBEAT_MS: '500',
      MCP_MONITOR_TOKEN: 'tok',
      MCP_MONITOR_MAX_SESSIONS: '10',
      MCP_MONITOR_SESSION_IDLE_MS: '0',
      MCP_MONITOR_ENTRY: 'my-server.js',
      MCP_MONITOR_TRUST_PROXY: 'loopback',
      MCP_MONITOR_ALLOWED_HOSTS: 'Monitor.example, fd00::5',
      MCP_MONITOR_CLIENT_WINDOW_MS: '5000',
      MCP_MONITOR_JOURNAL_MAX_BYTES: '65536',
      MCP_MONITOR_JOURNAL_FILES: '3',
      MCP_MONITOR_CALLS: 'off',
      MCP_MONITOR_CALLS_MAX_BYTES: '4096',
      MCP_MONITOR_CALLS_FILES: '2',
    };
    const fromEnv = parseCommand('start', [], env, ALL, { cwd: '/w' }).settings;
    expect(fromEnv).toEqual({
      port: 4000, host: '0.0.0.0', mcpPort: 0, mcpHost: '::1', stateDir: '/w/var/state', serverId: 'edge-1', heartbeatMs: 500,
      token: 'tok', maxSessions: 10, sessionIdleMs: 0, entry: '/w/my-server.js', trustProxy: 'loopback', allowedHosts: ['monitor.example', '[fd00::5]'], clientWindowMs: 5000, journalMaxBytes: 65536, journalFiles: 3,
      calls: 'off', callsMaxBytes: 4096, callsFiles: 2,
    });
    const flagged = parseCommand('start', ['--port', '5000', '--server-id', 'flag-id', '--state-dir', '/abs'], env, ALL, { cwd: '/w' }).settings;
    expect(flagged).toMatchObject({ port: 5000, serverId: 'flag-id', stateDir: '/abs', host: '0.0.0.0' });
    expect(parseCommand('server', ['--calls', 'ON'], env, ['calls'], { cwd: '/w' }).settings.calls).toBe('on');
  });

  it.each([
    [['--port', '65536'], /Invalid --port: "65536" \(expected a port, 0-65535\)/],
    [['--port', 'abc'], /Invalid --port: "abc"/],
    [['--mcp-port', '-1'], /Invalid --mcp-port|--mcp-port/],
    [['--server-id', 'has space'], /Invalid --server-id: "has space" \(expected a server id/],
    [['--server-id', 'x'.repeat(65)], /Invalid --server-id/],
    [['--heartbeat-ms', '10'], /Invalid --heartbeat-ms: "10"/],
    [['--max-sessions', '0'], /Invalid --max-sessions: "0"/],
    [['--session-idle-ms', '50'], /Invalid --session-idle-ms: "50"/],
    [['--token', ''], /Invalid --token/],
    [['--token', 'has space'], /Invalid --token: "has space" \(expected a token .*no whitespace/],
    [['--token', 'tab\tinside'], /Invalid --token/],
    [['--trust-proxy', 'all'], /Invalid --trust-proxy: "all" \(expected proxy hops 1-10, loopback, or off\)/],
    [['--trust-proxy', '11'], /Invalid --trust-proxy/],
    [['--allowed-hosts', 'example.com:8080'], /Invalid --allowed-hosts: .*bad: "example.com:8080"/],
    [['--allowed-hosts', 'http://x'], /Invalid --allowed-hosts/],
    [['--allowed-hosts', ' , '], /Invalid --allowed-hosts/],
    [['--client-window-ms', '10'], /Invalid --client-window-ms: "10" \(expected milliseconds, 100-86400000\)/],
    [['--calls', 'maybe'], /Invalid --calls: "maybe" \(expected on or off\)/],
    [['--calls-max-bytes', '100'], /Invalid --calls-max-bytes: "100" \(expected bytes, 1024-/],
    [['--calls-files', '0'], /Invalid --calls-files: "0" \(expected a file count, 1-100\)/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra-arg'], /unexpected argument "extra-arg"/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseCommand('start', argv, {}, ALL, { cwd: '/' })).toThrow(UsageError);
    expect(() => parseCommand('start', argv, {}, ALL, { cwd: '/' })).toThrow(message);
  });

  it('--trust-proxy takes a hop count or loopback, and "on" means one hop, never "trust all"', () => {
    const tp = (v: string) => parseCommand('server', ['--trust-proxy', v], {}, ['trustProxy'], { cwd: '/' }).settings.trustProxy;
    expect(tp('2')).toBe(2);
    expect(tp('loopback')).toBe('loopback');
    expect(tp('off')).toBe(false);
    expect(tp('on')).toBe(1);
    expect(tp('true')).toBe(1);
  });

  it('keeps --upstream as a URL (credentials and all: they are sent upstream) and --command as written', () => {
    const { settings } = parseCommand('server', ['--upstream', 'https://me:s3cret@mcp.example.com:8443/mcp'], { MCP_MONITOR_COMMAND: '' }, ['upstream', 'command'], { cwd: '/' });
    expect(settings).toEqual({ upstream: 'https://me:s3cret@mcp.example.com:8443/mcp', command: undefined });
    const cmd = parseCommand('server', ['--command', ' npx -y "@scope/server x" '], {}, ['command'], { cwd: '/' }).settings;
    expect(cmd.command).toBe('npx -y "@scope/server x"');
  });

  it('names the environment variable when the bad value came from it', () => {
    expect(() => parseCommand('start', [], { MCP_MONITOR_TRUST_PROXY: 'maybe' }, ALL, { cwd: '/' })).toThrow(/Invalid MCP_MONITOR_TRUST_PROXY: "maybe"/);
    expect(() => parseCommand('start', [], { MCP_MONITOR_PORT: '99999' }, ALL, { cwd: '/' })).toThrow(/Invalid MCP_MONITOR_PORT: "99999"/);
  });
});

describe('bad settings stop the programs with exit 2 and one line', () => {
  const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ['start', ['--port', '70000'], {}, /^mcp-monitor start: Invalid --port: "70000"/],
    ['start', ['--host', ''], {}, /^mcp-monitor start: Invalid --host/],
    ['start', ['--server-id', '../etc'], {}, /^mcp-monitor start: Invalid --server-id/],
    ['start', [], { MCP_MONITOR_HEARTBEAT_MS: 'fast' }, /^mcp-monitor start: Invalid MCP_MONITOR_HEARTBEAT_MS: "fast"/],
    ['start', ['--nope'], {}, /^mcp-monitor start: Unknown option '--nope' \(see 'mcp-monitor start --help'\)$/],
    ['start', ['--state-dir', '/etc/passwd/state'], {}, /^mcp-monitor start: Invalid --state-dir: \/etc\/passwd\/state: not a directory/],
    ['start', ['--entry', '/does/not/exist.mjs'], {}, /^mcp-monitor start: Invalid --entry: \/does\/not\/exist\.mjs: no such file/],
    ['server', ['--mcp-port', '1e3'], {}, /^mcp-monitor server: Invalid --mcp-port: "1e3"/],
    ['server', ['--max-sessions', '-5'], {}, /^mcp-monitor server: .*--max-sessions/],
    ['server', ['--port', '3001'], {}, /^mcp-monitor server: .*Unknown option '--port'/],
    ['server', ['--entry', path.join(import.meta.dirname, 'fixtures', 'entry-not-a-factory.mjs')], {}, /^mcp-monitor server: Invalid --entry: .*default export must be a function/],
    ['start', ['--upstream', 'ftp://example.com/mcp'], {}, /^mcp-monitor start: Invalid --upstream: "ftp:\/\/example.com\/mcp" \(expected an http:\/\/ or https:\/\/ URL, not ftp:\)$/],
    ['server', ['--upstream', 'not a url'], {}, /^mcp-monitor server: Invalid --upstream: "not a url"/],
    ['server', ['--upstream', 'http://us%ZZer:p@127.0.0.1:9/mcp'], {}, /^mcp-monitor server: Invalid --upstream: .*valid percent-encoding\)$/],
    ['server', ['--command', 'node "server.js'], {}, /^mcp-monitor server: Invalid --command: .*an unclosed " quote/],
    ['server', [], { MCP_MONITOR_COMMAND: '   ' }, /^mcp-monitor server: Invalid MCP_MONITOR_COMMAND: .*no program to run/],
    ['start', ['--upstream', 'http://127.0.0.1:9/mcp', '--command', 'cat'], {}, /^mcp-monitor start: --upstream and --command exclude each other/],
    ['server', ['--command', 'cat'], { MCP_MONITOR_ENTRY: '/x.mjs' }, /^mcp-monitor server: --entry and --command exclude each other/],
  ];
  it.each(cases)('%s %j', async (command, argv, env, message) => {
    const stateDir = await makeStateDir();
    const args = argv.includes('--state-dir') ? argv : [...argv, '--state-dir', stateDir];
    const r = await run([command, ...args], { env });
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('an unknown command exits 2', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('a state dir that is a file exits 2 for the child too', async () => {
    const dir = await makeStateDir();
    const file = path.join(dir, 'a-file');
    await writeFile(file, 'x');
    const r = await run(['server', '--state-dir', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`mcp-monitor server: Invalid --state-dir: ${file}: not a directory`);
  });
});
