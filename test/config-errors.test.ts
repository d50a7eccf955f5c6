/**
 * Every kind of bad `--config` stops the real `mcp-monitor start` before anything
 * starts: exit 2 and one line on stderr naming the file and the key; nothing is listening and
 * nothing is written to the state directory.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, makeStateDir, run } from './helpers/processes.js';

afterEach(cleanup);

const P = 'mcp-monitor start: config.json: ';

/** [name, file text (or undefined: no file), extra args, the one expected line]. */
const CASES: [string, string | undefined, string[], string | RegExp][] = [
  ['no file', undefined, [], `${P}no such file`],
  ['bad JSON', '{\n  "servers": [\n    { "id": "a" "mcpPort": 1 }\n  ]\n}', [], `${P}not valid JSON: line 3, column 17: unexpected "\\""`],
  ['not an object', '"servers"', [], `${P}expected a JSON object with "servers", not a string`],
  ['unknown top-level key', '{"servers":[{"id":"a"}],"tokn":"x"}', [], `${P}tokn: unknown key (did you mean "token"?)`],
  ['unknown server key', '{"servers":[{"id":"a","mcpPrt":1}]}', [], `${P}servers[0].mcpPrt: unknown key (did you mean "mcpPort"?)`],
  ['unknown server key, far from any', '{"servers":[{"id":"a","color":"red"}]}', [], /^mcp-monitor start: config\.json: servers\[0\]\.color: unknown key \(known: id, mcpPort, mcpHost, .*, env, autostart\)$/],
  ['missing id', '{"servers":[{"id":"a","mcpPort":1},{"mcpPort":2}]}', [], `${P}servers[1].id: missing (each server needs an id)`],
  ['bad id', '{"servers":[{"id":"../etc"}]}', [], `${P}servers[0].id: "../etc" is not valid (expected a server id, [A-Za-z0-9_-]{1,64})`],
  ['duplicate id', '{"servers":[{"id":"a","mcpPort":1},{"id":"a","mcpPort":2}]}', [], `${P}servers[1].id: "a" is also servers[0].id`],
  ['duplicate mcpPort', '{"servers":[{"id":"a","mcpPort":3322},{"id":"b","mcpPort":0},{"id":"c","mcpPort":3322}]}', [], `${P}servers[2].mcpPort: 3322 is also servers[0].mcpPort`],
  ['bad value', '{"servers":[{"id":"a","heartbeatMs":10}]}', [], `${P}servers[0].heartbeatMs: 10 is not valid (expected milliseconds, 50-3600000)`],
  ['bad API value', '{"host":" ","servers":[{"id":"a"}]}', [], `${P}host: " " is not valid (expected a host, not blank)`],
  ['two backends', '{"servers":[{"id":"a","upstream":"http://127.0.0.1:1/mcp","command":["node","x.js"]}]}', [], `${P}servers[0].command: upstream and command exclude each other (a server serves one backend)`],
  ['entry that does not exist', '{"servers":[{"id":"a","entry":"./missing.mjs"}]}', [], /^mcp-monitor start: config\.json: servers\[0\]\.entry: \/.*\/missing\.mjs: no such file$/],
  ['a child setting as a flag', '{"servers":[{"id":"a"}]}', ['--mcp-port', '0'], 'mcp-monitor start: --mcp-port cannot be used with --config: child settings come from the file ("mcpPort" of each server)'],
  ['--server-id with --config', '{"servers":[{"id":"a"}]}', ['--server-id', 'x'], 'mcp-monitor start: --server-id cannot be used with --config: child settings come from the file (each server\'s "id")'],
];

describe('start --config: bad configs', () => {
  it.each(CASES)('%s: exit 2, one line', async (_name, text, args, line) => {
    const dir = await makeStateDir();
    const stateDir = await makeStateDir();
    if (text !== undefined) await writeFile(path.join(dir, 'config.json'), text, { mode: 0o600 });
    const r = await run(['start', '--config', 'config.json', '--port', '0', '--state-dir', stateDir, ...args], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    if (typeof line === 'string') expect(r.stderr.trimEnd()).toBe(line);
    else expect(r.stderr.trimEnd()).toMatch(line);
    expect(r.stdout).toBe('');
    expect(await readdir(stateDir)).toEqual([]);
  });

  it('reads MCP_MONITOR_CONFIG like --config', async () => {
    const dir = await makeStateDir();
    await writeFile(path.join(dir, 'config.json'), '{"servers":[{"id":"a","mcpPort":1},{"id":"b","mcpPort":1}]}');
    const r = await run(['start', '--port', '0', '--state-dir', await makeStateDir()], { cwd: dir, env: { MCP_MONITOR_CONFIG: 'config.json' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toBe(`${P}servers[1].mcpPort: 1 is also servers[0].mcpPort`);
  });
});
