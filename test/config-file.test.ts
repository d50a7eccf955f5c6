/**
 * The config file of `start --config` (shared/config-file.ts), parsed without starting anything:
 * each value by its flag's rules, relative paths from the file, one line naming the key for every
 * mistake; a `command` array that reaches the child as one line and splits back intact; and where a
 * bad JSON text goes wrong.
 */
import { describe, expect, it } from 'vitest';
import { joinCommandLine, splitCommandLine } from '../shared/command-line.js';
import { ConfigError, parseConfigText } from '../shared/config-file.js';
import { jsonSyntaxError } from '../shared/json-syntax-error.js';
import { UsageError } from '../shared/settings.js';

const FILE = '/srv/monitor/config.json';
const parse = (doc: unknown) => parseConfigText(typeof doc === 'string' ? doc : JSON.stringify(doc), FILE, 'config.json');
const errorOf = (doc: unknown): string => {
  try {
    parse(doc);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no error');
};

describe('parseConfigText', () => {
  it('reads API settings, servers with defaults, paths relative to the file, env and autostart', () => {
    const c = parse({
      port: 4000,
      stateDir: 'state',
      allowedHosts: ['monitor.internal', '10.0.0.5'],
      servers: [
        { id: 'tools' },
        { id: 'calc', entry: './calc.mjs', mcpPort: 3323, heartbeatMs: 500, trustProxy: 1, autostart: false },
        { id: 'files', command: ['npx', '-y', 'server-filesystem', '/my files'], mcpPort: 0, env: { ROOT: '/srv' } },
        { id: 'remote', upstream: 'http://user:pw@127.0.0.1:8080/mcp', mcpPort: 0, allowedHosts: 'a.example' },
      ],
    });
    expect(c.file).toBe(FILE);
    expect(c.api).toEqual({ port: 4000, stateDir: '/srv/monitor/state', allowedHosts: ['monitor.internal', '10.0.0.5'] });
    expect(c.servers.map((s) => s.id)).toEqual(['tools', 'calc', 'files', 'remote']);
    expect(c.servers[0]).toMatchObject({ autostart: true, env: {}, settings: { mcpPort: 3322, mcpHost: '127.0.0.1', heartbeatMs: 2000, entry: undefined, trustProxy: false, allowedHosts: [] } });
    expect(c.servers[1]).toMatchObject({ autostart: false, settings: { entry: '/srv/monitor/calc.mjs', mcpPort: 3323, heartbeatMs: 500, trustProxy: 1 } });
    expect(c.servers[2]!.env).toEqual({ ROOT: '/srv' });
    expect(splitCommandLine(c.servers[2]!.settings.command!)).toEqual(['npx', '-y', 'server-filesystem', '/my files']);
    expect(c.servers[3]!.settings).toMatchObject({ upstream: 'http://user:pw@127.0.0.1:8080/mcp', allowedHosts: ['a.example'] });
  });

  it('takes a command as a string too, and lets port 0 repeat', () => {
    const c = parse({ servers: [{ id: 'a', command: 'node "my server.js"', mcpPort: 0 }, { id: 'b', mcpPort: 0 }] });
    expect(c.servers[0]!.settings.command).toBe('node "my server.js"');
  });

  it('gives a command server 32 sessions unless the file says, as the command line does', () => {
    const c = parse({ servers: [{ id: 'a', command: ['node', 'x.js'], mcpPort: 1 }, { id: 'b', command: ['node', 'x.js'], mcpPort: 2, maxSessions: 5 }, { id: 'c', mcpPort: 3 }] });
    expect(c.servers.map((s) => s.settings.maxSessions)).toEqual([32, 5, 1000]);
  });

  it('accepts a byte order mark', () => {
    expect(parse(`\ufeff${JSON.stringify({ servers: [{ id: 'a' }] })}`).servers[0]!.id).toBe('a');
  });

  it.each<[string, unknown, string]>([
    ['not an object', [1, 2], 'config.json: expected a JSON object with "servers", not an array'],
    ['no servers', { port: 1 }, 'config.json: servers: missing (a list of the servers to supervise)'],
    ['servers not a list', { servers: {} }, 'config.json: servers: expected an array of servers, not an object'],
    ['empty servers', { servers: [] }, 'config.json: servers: an empty list (expected at least one server)'],
    ['unknown top-level key', { colour: 1, servers: [{ id: 'a' }] }, 'config.json: colour: unknown key (known: port, host, stateDir, token, allowedHosts, servers)'],
    ['a typo of a key', { prot: 1, servers: [{ id: 'a' }] }, 'config.json: prot: unknown key (did you mean "port"?)'],
    ['a flag name at the top', { 'state-dir': 's', servers: [{ id: 'a' }] }, 'config.json: state-dir: unknown key (did you mean "stateDir"?)'],
    ['a child setting at the top', { mcpPort: 1, servers: [{ id: 'a' }] }, 'config.json: mcpPort: a setting of each server: give it in servers[] (e.g. servers[0].mcpPort)'],
    ['unknown server key', { servers: [{ id: 'a', mcp_port: 1 }] }, 'config.json: servers[0].mcp_port: unknown key (did you mean "mcpPort"?)'],
    ['an API setting in a server', { servers: [{ id: 'a', port: 1 }] }, 'config.json: servers[0].port: an API setting: give it at the top level of the file'],
    ['server not an object', { servers: ['a'] }, 'config.json: servers[0]: expected an object with "id", not a string'],
    ['missing id', { servers: [{ mcpPort: 1 }] }, 'config.json: servers[0].id: missing (each server needs an id)'],
    ['bad id', { servers: [{ id: 'a b' }] }, 'config.json: servers[0].id: "a b" is not valid (expected a server id, [A-Za-z0-9_-]{1,64})'],
    ['duplicate id', { servers: [{ id: 'a', mcpPort: 1 }, { id: 'b', mcpPort: 2 }, { id: 'a', mcpPort: 3 }] }, 'config.json: servers[2].id: "a" is also servers[0].id'],
    ['duplicate port', { servers: [{ id: 'a', mcpPort: 3322 }, { id: 'b', mcpPort: 0 }, { id: 'c', mcpPort: 3322 }] }, 'config.json: servers[2].mcpPort: 3322 is also servers[0].mcpPort'],
    ['duplicate default port', { servers: [{ id: 'a' }, { id: 'b' }] }, 'config.json: servers[1].mcpPort: 3322 (the default) is also servers[0].mcpPort'],
    ['port out of range', { servers: [{ id: 'a', mcpPort: 70000 }] }, 'config.json: servers[0].mcpPort: 70000 is not valid (expected a port, 0-65535)'],
    ['port as a string', { servers: [{ id: 'a', mcpPort: '3322' }] }, 'config.json: servers[0].mcpPort: expected a number, not a string'],
    ['fractional ms', { servers: [{ id: 'a', heartbeatMs: 1.5 }] }, 'config.json: servers[0].heartbeatMs: 1.5 is not valid (expected milliseconds, 50-3600000)'],
    ['bad API port', { port: -1, servers: [{ id: 'a' }] }, 'config.json: port: -1 is not valid (expected a port, 0-65535)'],
    ['token with whitespace, not echoed', { token: 'se cret', servers: [{ id: 'a' }] }, 'config.json: token: not a valid value (expected a token of letters, digits and -._~+/ (no whitespace))'],
    ['two backends', { servers: [{ id: 'a', entry: 'x.mjs', command: 'node x' }] }, 'config.json: servers[0].command: entry and command exclude each other (a server serves one backend)'],
    ['empty command', { servers: [{ id: 'a', command: [] }] }, 'config.json: servers[0].command: an empty command (expected the program and its arguments)'],
    ['command element not a string', { servers: [{ id: 'a', command: ['node', 1] }] }, 'config.json: servers[0].command[1]: expected a string, not a number'],
    ['empty program', { servers: [{ id: 'a', command: ['', 'x'] }] }, 'config.json: servers[0].command[0]: an empty program name'],
    ['unclosed quote', { servers: [{ id: 'a', command: 'node "x' }] }, 'config.json: servers[0].command: "node \\"x" is not valid (expected a command line (an unclosed " quote))'],
    ['bad upstream, not echoed', { servers: [{ id: 'a', upstream: 'ftp://u:secret@x/' }] }, 'config.json: servers[0].upstream: not a valid value'],
    ['bad trustProxy', { servers: [{ id: 'a', trustProxy: 'all' }] }, 'config.json: servers[0].trustProxy: "all" is not valid (expected proxy hops 1-10, loopback, or off)'],
    ['bad host list', { servers: [{ id: 'a', allowedHosts: ['ok.example', 'a,b'] }] }, 'config.json: servers[0].allowedHosts[1]: expected a host name, not "a,b"'],
    ['env without command', { servers: [{ id: 'a', env: { A: 'b' } }] }, 'config.json: servers[0].env: only for a server with a command (the environment of its processes)'],
    ['env value not a string', { servers: [{ id: 'a', command: 'x', env: { A: 1 } }] }, 'config.json: servers[0].env.A: expected a string, not a number'],
    ['env bad name', { servers: [{ id: 'a', command: 'x', env: { '1A': 'b' } }] }, 'config.json: servers[0].env: "1A" is not a variable name'],
    ['env of our own', { servers: [{ id: 'a', command: 'x', env: { MCP_MONITOR_TOKEN: 'b' } }] }, 'config.json: servers[0].env.MCP_MONITOR_TOKEN: mcp-monitor\'s own settings are keys of the server'],
    ['autostart not a boolean', { servers: [{ id: 'a', autostart: 'no' }] }, 'config.json: servers[0].autostart: expected true or false, not a string'],
    ['bad JSON', '{\n  "servers": [\n    { "id": "a", }\n  ]\n}', 'config.json: not valid JSON: line 3, column 18: unexpected "}"'],
    ['truncated JSON', '{"servers": [', 'config.json: not valid JSON: line 1, column 14: unexpected end of file'],
  ])('%s', (_name, doc, message) => {
    const m = errorOf(doc);
    expect(m.slice(0, message.length)).toBe(message);
    expect(m).not.toContain('\n');
    expect(m).not.toContain('secret');
  });
});

describe('joinCommandLine', () => {
  it.each<[string[]]>([
    [['node', 'server.js']],
    [['node', '/opt/my server/index.js', '--name', 'a b']],
    [['say', "it's", '"quoted"', `both "kinds" 'here'`]],
    [['cmd', '', 'x', '']],
    [['tabs\tand\nnewlines', '  lead and trail  ']],
    [['"', "'", `"'`, `'"`, '""', "''", `"'"'"`]],
    [['--opt=a b', '$HOME', '*.js', '|']],
  ])('%j splits back intact', (words) => {
    expect(splitCommandLine(joinCommandLine(words))).toEqual(words);
  });

  it('leaves plain words bare', () => {
    expect(joinCommandLine(['npx', '-y', '@modelcontextprotocol/server-everything'])).toBe('npx -y @modelcontextprotocol/server-everything');
  });
});

describe('jsonSyntaxError', () => {
  it.each<[string, { line: number; column: number; found: string }]>([
    ['{"a": }', { line: 1, column: 7, found: '"}"' }],
    ['{"a":1,}', { line: 1, column: 8, found: '"}"' }],
    ['{\n"a" 1}', { line: 2, column: 5, found: '"1"' }],
    ['[1,2', { line: 1, column: 5, found: 'end of file' }],
    ['', { line: 1, column: 1, found: 'end of file' }],
    ['{"a": tru}', { line: 1, column: 7, found: '"t"' }],
    ['{"a": "x\ty"}', { line: 1, column: 9, found: '"\\t"' }],
    ['{"a": 1} x', { line: 1, column: 10, found: '"x"' }],
    ['[01]', { line: 1, column: 3, found: '"1"' }],
  ])('%j', (text, at) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonSyntaxError(text)).toEqual(at);
  });

  it('finds nothing wrong in valid JSON, deep nesting included', () => {
    for (const text of ['{"a":[1,-2.5e3,true,false,null,"\\u00e9\\n",{}],"b":{}}', '[]', ' 1 ', `${'['.repeat(100_000)}${']'.repeat(100_000)}`]) {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(jsonSyntaxError(text)).toBeUndefined();
    }
  });
});
