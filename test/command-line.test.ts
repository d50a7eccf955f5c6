/** `--command` lines: split on spaces, `"…"` and `'…'` quote, no shell. */
import { describe, expect, it } from 'vitest';
import { CommandLineError, splitCommandLine } from '../shared/command-line.js';

describe('splitCommandLine', () => {
  it.each([
    ['npx -y @modelcontextprotocol/server-everything', ['npx', '-y', '@modelcontextprotocol/server-everything']],
    ['  python3   -m  server  ', ['python3', '-m', 'server']],
    ['node "/opt/my server/index.js" --name \'a b\'', ['node', '/opt/my server/index.js', '--name', 'a b']],
    ['say "it\'s" \'"quoted"\'', ['say', "it's", '"quoted"']],
    ['cmd "" x', ['cmd', '', 'x']],
    ['run --opt="a b"c', ['run', '--opt=a bc']],
    ['echo $HOME *.js | cat', ['echo', '$HOME', '*.js', '|', 'cat']],
  ])('%j', (line, words) => {
    expect(splitCommandLine(line)).toEqual(words);
  });

  it.each([
    ['node "server.js', 'an unclosed " quote'],
    ["node 'server.js", "an unclosed ' quote"],
    ['', 'no program to run'],
    ['   \t ', 'no program to run'],
    ['node a\0b', 'a NUL character'],
  ])('refuses %j', (line, why) => {
    expect(() => splitCommandLine(line)).toThrow(CommandLineError);
    expect(() => splitCommandLine(line)).toThrow(why);
  });
});
