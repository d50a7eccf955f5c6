/** The server id `wrap` derives from CMD, and its numbered variants. */
import { describe, expect, it } from 'vitest';
import { FALLBACK_SERVER_ID, numberedServerId, wrapServerId } from '../server/backends/wrap/wrap-server-id.js';

describe('wrapServerId', () => {
  it.each([
    [['npx', '-y', '@modelcontextprotocol/server-filesystem@2026.8.31', '/tmp'], 'server-filesystem'],
    [['npx', '-y', '@modelcontextprotocol/server-memory'], 'server-memory'],
    [['/opt/tools/my_server.py'], 'my_server'],
    [['uv', 'run', '/opt/tools/my_server.py'], 'my_server'],
    [['uv', 'tool', 'run', 'mcp-server-git'], 'mcp-server-git'],
    [['uvx', '--from', 'git+https://x/y', 'mcp-server-fetch'], 'mcp-server-fetch'],
    [['python3', '-m', 'mcp_server_time'], 'mcp_server_time'],
    [['/usr/bin/python3.12', '-u', 'server.py'], 'server'],
    [['node', '--import', 'tsx', 'dist/index.js', 'stdio'], 'index'],
    [['node', '/w/node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'], 'server-everything'],
    [['python3', '/srv/weather/src/main.py'], 'weather'],
    [['python3', '/srv/weather/server.py'], 'server'],
    [['/usr/local/bin/node', '/srv/weather-server.mjs'], 'weather-server'],
    [['npm', 'exec', '--', 'mcp-server-everything'], 'mcp-server-everything'],
    [['pnpm', 'dlx', 'some-server@latest'], 'some-server'],
    [['npx', '-p', 'pkg', 'the-bin'], 'the-bin'],
    [['deno', 'run', '-A', 'jsr:@scope/deno-server'], 'deno-server'],
    [['bunx', 'srv'], 'srv'],
    [['pipx', 'run', 'mcp-server-x'], 'mcp-server-x'],
    [['docker', 'run', '-i', 'img'], 'docker'],
    [['./weird name!.sh'], 'weird-name'],
  ])('%j -> %s', (argv, id) => {
    expect(wrapServerId(argv)).toBe(id);
  });

  it('a launcher alone names itself', () => {
    expect(wrapServerId(['node', '-e', '1'])).toBe('1');
    expect(wrapServerId(['node'])).toBe('node');
  });

  it('nothing usable: the fallback id', () => {
    expect(wrapServerId(['!!!'])).toBe(FALLBACK_SERVER_ID);
    expect(wrapServerId(['npx', '-y'])).toBe('npx');
  });

  it('cut to 64 characters of [A-Za-z0-9_-]', () => {
    const id = wrapServerId([`/bin/${'a'.repeat(100)}`]);
    expect(id).toBe('a'.repeat(64));
    expect(wrapServerId(['ünïcode-srv'])).toBe('n-code-srv');
  });
});

describe('numberedServerId', () => {
  it('base, base-2, base-3 …, within 64 characters', () => {
    expect(numberedServerId('files', 1)).toBe('files');
    expect(numberedServerId('files', 2)).toBe('files-2');
    expect(numberedServerId('x'.repeat(64), 12)).toBe(`${'x'.repeat(61)}-12`);
  });
});
