/**
 * The server id `wrap` takes when none is given: named after the server CMD runs, not after the
 * launcher that runs it. `npx -y @modelcontextprotocol/server-filesystem@2026.8.31 /tmp` is
 * `server-filesystem`, `uv run /opt/tools/my_server.py` is `my_server`, `python3 -m mcp_server_time`
 * is `mcp_server_time`; a generic file name (`index.js`, `main.py`) is named by its package's folder
 * (`node …/server-everything/dist/index.js` is `server-everything`). Pure.
 */
import { SERVER_ID_RE } from '../../../shared/paths.js';

/** Programs that run the server rather than being it. */
const LAUNCHERS = new Set(['npx', 'npm', 'pnpm', 'yarn', 'bunx', 'bun', 'uvx', 'uv', 'pipx', 'node', 'nodejs', 'python', 'python3', 'deno']);
/** Their sub-commands that come before what they run (`npm exec`, `uv tool run`, `pnpm dlx`, `deno run`). */
const SUB_COMMANDS = new Set(['exec', 'run', 'x', 'dlx', 'tool', 'start']);
/** Their options that take the next word as a value (`npx -p pkg cmd`, `uv run --with pkg s.py`, `node --import x s.js`). */
const VALUE_OPTIONS = new Set(['-p', '--package', '-c', '--call', '--with', '--from', '--python', '--spec', '-r', '--require', '--import', '--loader', '-X', '-W', '--directory', '--project', '--config', '-C']);
/** The id when CMD names nothing usable. */
export const FALLBACK_SERVER_ID = 'wrap';
const MAX = 64;

/** `python3.12`, `/usr/bin/node`, `npx.cmd` → their launcher name, if they are one. */
function launcherName(word: string): string | undefined {
  const base = lastSegment(word).replace(/\.(exe|cmd)$/i, '').toLowerCase();
  const name = /^python\d+(\.\d+)*$/.test(base) ? 'python3' : base;
  return LAUNCHERS.has(name) ? name : undefined;
}

function lastSegment(word: string): string {
  const parts = word.split(/[/\\]/).filter(Boolean);
  return parts[parts.length - 1] ?? '';
}

/** The word of `argv` that names the server: the first that is not a launcher, its option or sub-command. */
function serverWord(argv: readonly string[]): string | undefined {
  let lastLauncher: string | undefined;
  let i = 0;
  while (i < argv.length) {
    const word = argv[i]!;
    const launcher = launcherName(word);
    if (!launcher) return word;
    lastLauncher = word;
    i += 1;
    while (i < argv.length) {
      const w = argv[i]!;
      // `python -m module`: the module is the server.
      if (w === '-m') return argv[i + 1];
      if (w === '--') {
        i += 1;
        break;
      }
      if (w.startsWith('-')) i += VALUE_OPTIONS.has(w) ? 2 : 1;
      else if (SUB_COMMANDS.has(w)) i += 1;
      else break;
    }
  }
  return lastLauncher;
}

/** File names that say nothing of the server (`dist/index.js`): the folder above names it instead. */
const GENERIC_STEMS = new Set(['index', 'main', '__main__', 'cli']);
/** Folders that say nothing either (`…/server-everything/dist/index.js`). */
const GENERIC_DIRS = new Set(['dist', 'build', 'lib', 'src', 'out', 'bin', 'esm', 'cjs']);

/** `…/server-everything/dist/index.js` → `…/server-everything`: a generic file's package folder. */
function namingPath(word: string): string {
  const parts = word.split(/[/\\]/);
  const stem = (parts[parts.length - 1] ?? '').replace(/\.[A-Za-z0-9]{1,5}$/, '');
  if (parts.length < 2 || !GENERIC_STEMS.has(stem)) return word;
  let i = parts.length - 2;
  while (i > 0 && GENERIC_DIRS.has(parts[i]!)) i -= 1;
  return parts[i] && !GENERIC_DIRS.has(parts[i]!) ? parts.slice(0, i + 1).join('/') : word;
}

/** What is left of one word as an id: last path segment, no npm scope, version or file extension, only [A-Za-z0-9_-]. */
export function idOfWord(word: string): string {
  // `jsr:name`, `npm:name`, `git+https://…`: what follows the scheme.
  let w = lastSegment(namingPath(word.trim()).replace(/^[A-Za-z][A-Za-z0-9+.-]*:/, ''));
  // `@scope/name@1.2.3` is `name@1.2.3` by now; `name@latest`: the version follows an `@` past the start.
  const at = w.lastIndexOf('@');
  if (at > 0) w = w.slice(0, at);
  const dot = w.lastIndexOf('.');
  if (dot > 0 && /^[A-Za-z][A-Za-z0-9]{0,4}$/.test(w.slice(dot + 1))) w = w.slice(0, dot);
  return w.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, MAX).replace(/-+$/, '');
}

/** The server id for CMD `argv` (see the file comment); {@link FALLBACK_SERVER_ID} when nothing usable is left. */
export function wrapServerId(argv: readonly string[]): string {
  const word = serverWord(argv);
  const id = word === undefined ? '' : idOfWord(word);
  return SERVER_ID_RE.test(id) ? id : FALLBACK_SERVER_ID;
}

/** The `n`th id of `base` (1: `base`, 2: `base-2`, …), cut so that it stays within 64 characters. */
export function numberedServerId(base: string, n: number): string {
  if (n <= 1) return base;
  const suffix = `-${n}`;
  return `${base.slice(0, MAX - suffix.length)}${suffix}`;
}
