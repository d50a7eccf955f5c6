/**
 * Settings: each is a flag and an environment variable, the flag wins.
 * Parsing is pure: argv and env come in, typed settings or a {@link UsageError} come out.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CommandLineError, splitCommandLine } from './command-line.js';
import { defaultStateDir, shownDefaultStateDir } from './default-state-dir.js';
import { SERVER_ID_RE } from './paths.js';
import { parseUpstreamUrl, UpstreamUrlError } from './upstream-url.js';

/** Bad usage: an unknown flag, a bad value, a missing argument. The CLI exits 2 with its message. */
export class UsageError extends Error {
  readonly code = 'EUSAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Settings {
  /** API port; 0 = any free port. Default 3001. */
  port: number;
  /** API bind address. Default 127.0.0.1. */
  host: string;
  /** MCP child port; 0 = any free port (published in the snapshot). Default 3322. */
  mcpPort: number;
  /** MCP child bind address. Default 127.0.0.1. */
  mcpHost: string;
  /** The shared state directory, absolute. Default `./state` if it holds the marker, else the per-user one (default-state-dir.ts). */
  stateDir: string;
  /** Id of the MCP server, `[A-Za-z0-9_-]{1,64}`. Default `default`. */
  serverId: string;
  /** Heartbeat interval of the snapshot writer. Default 2000. */
  heartbeatMs: number;
  /** Bearer token for the API; undefined = no auth. */
  token: string | undefined;
  /** Sessions one MCP child holds at once. Default 1000; {@link COMMAND_MAX_SESSIONS} with `command`. */
  maxSessions: number;
  /** Idle time after which a session is closed; 0 = never. Default 1800000. */
  sessionIdleMs: number;
  /** Module whose default export is a factory `() => McpServer`; undefined = built-in tools. */
  entry: string | undefined;
  /** Proxy mode: the Streamable HTTP MCP endpoint every request is forwarded to (may hold credentials: show it with `shownUrl`). */
  upstream: string | undefined;
  /** Stdio mode: the command line of the MCP server run once per session (split with `splitCommandLine`). */
  command: string | undefined;
  /**
   * Which `X-Forwarded-For` entries to believe for the client IP (Express `trust proxy`):
   * `false` (default) uses the socket's address; a hop count N takes the Nth address from the
   * right (the one your N proxies saw); `'loopback'` trusts only proxies on a loopback address.
   * Never "trust all": the leftmost entry is whatever the client wrote.
   */
  trustProxy: TrustProxy;
  /** More host names (no port) accepted in the `Host` header by the API and the MCP endpoint. Default none. */
  allowedHosts: string[];
  /** A sessionless (2026-07-28) client counts as connected this long after its last request, and while one is open. Default 60000. */
  clientWindowMs: number;
  /** The event journal `events.jsonl` is rotated before it would grow past this. Default 10 MiB. */
  journalMaxBytes: number;
  /** Rotated journal files kept (`events.1.jsonl` … `events.N.jsonl`). Default 5. */
  journalFiles: number;
  /** The calls journal `calls.jsonl` (one line per request a client made): `on` (default) or `off` (no file at all). */
  calls: 'on' | 'off';
  /** `calls.jsonl` is rotated before a batch would take it past this. Default 10 MiB. */
  callsMaxBytes: number;
  /** Rotated calls files kept (`calls.1.jsonl` … `calls.N.jsonl`). Default 5. */
  callsFiles: number;
  /** `start` only: a JSON file of the servers to supervise (see config-file.ts), absolute; undefined = one server from the settings. */
  config: string | undefined;
}

export type SettingKey = keyof Settings;

/** `--trust-proxy`: off, a number of proxy hops, or proxies on loopback addresses only. */
export type TrustProxy = false | number | 'loopback';

interface Spec {
  flag: string;
  env: string;
  type: 'string' | 'boolean';
  help: string;
  /** Turns the raw text into the value, or returns a reason it is bad. */
  parse: (raw: string, cwd: string) => unknown;
  default: (cwd: string, env: NodeJS.ProcessEnv) => unknown;
  /** How help shows the default, when not as computed (e.g. the rule that chose it). */
  shownDefault?: string | ((cwd: string, env: NodeJS.ProcessEnv) => string);
}

/** What a parser returns for a bad value: what it expected instead. */
class BadValue {
  constructor(readonly expected: string) {}
}

function integer(min: number, max: number, what: string) {
  return (raw: string) => {
    const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    return Number.isSafeInteger(n) && n >= min && n <= max ? n : new BadValue(`${what}, ${min}-${max}`);
  };
}

function text(what: string) {
  return (raw: string) => (raw.trim() === '' ? new BadValue(`${what}, not blank`) : raw);
}

// A bearer token is one RFC 6750 b64token: with whitespace in it no Authorization header matches.
const TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/;

// A DNS name or an IPv4 address; IPv6 in brackets. No port, no scheme, no path.
const HOST_NAME_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$|^\[[0-9A-Fa-f:.]+\]$/;

/** Comma-separated host names for `--allowed-hosts`, lower-cased; an IPv6 address may come without brackets. */
function hostList(raw: string): string[] | BadValue {
  const names = raw.split(',').map((h) => h.trim()).filter(Boolean);
  if (names.length === 0) return new BadValue('host names, comma-separated, not blank');
  const out: string[] = [];
  for (const name of names) {
    const h = name.includes(':') && !name.startsWith('[') ? `[${name}]` : name;
    if (!HOST_NAME_RE.test(h) || h.length > 255) return new BadValue(`host names without port, comma-separated (bad: ${JSON.stringify(name)})`);
    out.push(h.toLowerCase());
  }
  return [...new Set(out)];
}

const TRUE = new Set(['true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/** `--max-sessions` when `--command` is given and it is not. */
export const COMMAND_MAX_SESSIONS = 32;

/**
 * `maxSessions` when none was given, from the settings with the general default filled in:
 * {@link COMMAND_MAX_SESSIONS} for a `command` server, a process each (a thousand Node or
 * Python stdio servers would not fit one host). Flags and config files alike.
 */
export function defaultMaxSessions(s: Pick<Settings, 'command' | 'maxSessions'>): number {
  return s.command !== undefined ? COMMAND_MAX_SESSIONS : s.maxSessions;
}

export const SETTINGS: Record<SettingKey, Spec> = {
  port: { flag: 'port', env: 'MCP_MONITOR_PORT', type: 'string', help: 'API port (0 = any free port)', parse: integer(0, 65535, 'a port'), default: () => 3001 },
  host: { flag: 'host', env: 'MCP_MONITOR_HOST', type: 'string', help: 'API bind address', parse: text('a host'), default: () => '127.0.0.1' },
  mcpPort: { flag: 'mcp-port', env: 'MCP_MONITOR_MCP_PORT', type: 'string', help: 'MCP child port (0 = any free port)', parse: integer(0, 65535, 'a port'), default: () => 3322 },
  mcpHost: { flag: 'mcp-host', env: 'MCP_MONITOR_MCP_HOST', type: 'string', help: 'MCP child bind address', parse: text('a host'), default: () => '127.0.0.1' },
  stateDir: {
    flag: 'state-dir', env: 'MCP_MONITOR_STATE_DIR', type: 'string', help: 'the shared state directory',
    parse: (raw, cwd) => (raw.trim() === '' ? new BadValue('a directory, not blank') : path.resolve(cwd, raw)),
    default: defaultStateDir,
    shownDefault: shownDefaultStateDir,
  },
  serverId: {
    flag: 'server-id', env: 'MCP_MONITOR_SERVER_ID', type: 'string', help: 'id of the MCP server, [A-Za-z0-9_-]{1,64}',
    parse: (raw) => (SERVER_ID_RE.test(raw) ? raw : new BadValue('a server id ([A-Za-z0-9_-]{1,64})')),
    default: () => 'default',
  },
  heartbeatMs: { flag: 'heartbeat-ms', env: 'MCP_MONITOR_HEARTBEAT_MS', type: 'string', help: 'heartbeat of the snapshot writer, ms', parse: integer(50, 3_600_000, 'milliseconds'), default: () => 2000 },
  token: {
    flag: 'token', env: 'MCP_MONITOR_TOKEN', type: 'string', help: 'bearer token required by the API (prefer the env var: a flag shows in ps)',
    parse: (raw) => (TOKEN_RE.test(raw) ? raw : new BadValue('a token of letters, digits and -._~+/ (no whitespace)')),
    default: () => undefined,
  },
  maxSessions: { flag: 'max-sessions', env: 'MCP_MONITOR_MAX_SESSIONS', type: 'string', help: 'sessions one MCP child holds at once', parse: integer(1, 1_000_000, 'a session count'), default: () => 1000 },
  sessionIdleMs: {
    flag: 'session-idle-ms', env: 'MCP_MONITOR_SESSION_IDLE_MS', type: 'string', help: 'close a session idle this long, ms (0 = never)',
    parse: (raw) => {
      const v = integer(0, 2_147_483_647, 'milliseconds')(raw);
      return typeof v === 'number' && v > 0 && v < 100 ? new BadValue('milliseconds, 0 (never) or 100-2147483647') : v;
    },
    default: () => 1_800_000,
  },
  entry: {
    flag: 'entry', env: 'MCP_MONITOR_ENTRY', type: 'string', help: 'JS module whose default export is () => McpServer',
    parse: (raw, cwd) => (raw.trim() === '' ? new BadValue('a module path, not blank') : path.resolve(cwd, raw)),
    default: () => undefined,
  },
  upstream: {
    flag: 'upstream', env: 'MCP_MONITOR_UPSTREAM', type: 'string', help: 'proxy mode: forward every MCP request to this Streamable HTTP endpoint',
    parse: (raw) => {
      try {
        return parseUpstreamUrl(raw).href;
      } catch (err) {
        if (err instanceof UpstreamUrlError) return new BadValue(err.message);
        throw err;
      }
    },
    default: () => undefined,
  },
  command: {
    flag: 'command', env: 'MCP_MONITOR_COMMAND', type: 'string', help: 'stdio mode: run this MCP server program, one process per session (no shell)',
    parse: (raw) => {
      try {
        splitCommandLine(raw);
        return raw.trim();
      } catch (err) {
        if (err instanceof CommandLineError) return new BadValue(`a command line (${err.message})`);
        throw err;
      }
    },
    default: () => undefined,
  },
  trustProxy: {
    flag: 'trust-proxy', env: 'MCP_MONITOR_TRUST_PROXY', type: 'string',
    help: 'client IP from X-Forwarded-For: proxy hops to trust (1-10), loopback, or off',
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      if (v === 'loopback') return 'loopback';
      if (FALSE.has(v) || v === 'off') return false;
      // "on"/"true" meant "trust all" once, which lets a client forge its IP: one hop is what it meant.
      if (TRUE.has(v)) return 1;
      const n = integer(1, 10, '')(v);
      return typeof n === 'number' ? n : new BadValue('proxy hops 1-10, loopback, or off');
    },
    default: () => false,
    shownDefault: 'off',
  },
  allowedHosts: {
    flag: 'allowed-hosts', env: 'MCP_MONITOR_ALLOWED_HOSTS', type: 'string', help: 'more Host header names the API and the MCP endpoint accept, comma-separated',
    parse: hostList, default: () => [],
  },
  clientWindowMs: {
    flag: 'client-window-ms', env: 'MCP_MONITOR_CLIENT_WINDOW_MS', type: 'string',
    help: 'a sessionless (2026-07-28) client counts as connected this long after its last request, ms',
    parse: integer(100, 86_400_000, 'milliseconds'), default: () => 60_000,
  },
  journalMaxBytes: {
    flag: 'journal-max-bytes', env: 'MCP_MONITOR_JOURNAL_MAX_BYTES', type: 'string', help: 'rotate events.jsonl before it grows past this, bytes',
    parse: integer(1024, 2 ** 40, 'bytes'), default: () => 10 * 1024 * 1024,
  },
  journalFiles: {
    flag: 'journal-files', env: 'MCP_MONITOR_JOURNAL_FILES', type: 'string', help: 'rotated journal files kept (events.1.jsonl …)',
    parse: integer(1, 100, 'a file count'), default: () => 5,
  },
  calls: {
    flag: 'calls', env: 'MCP_MONITOR_CALLS', type: 'string', help: 'the calls journal calls.jsonl, one line per request a client made: on or off',
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      return TRUE.has(v) || v === '1' ? 'on' : FALSE.has(v) ? 'off' : new BadValue('on or off');
    },
    default: () => 'on',
  },
  callsMaxBytes: {
    flag: 'calls-max-bytes', env: 'MCP_MONITOR_CALLS_MAX_BYTES', type: 'string', help: 'rotate calls.jsonl before it grows past this, bytes',
    parse: integer(1024, 2 ** 40, 'bytes'), default: () => 10 * 1024 * 1024,
  },
  callsFiles: {
    flag: 'calls-files', env: 'MCP_MONITOR_CALLS_FILES', type: 'string', help: 'rotated calls files kept (calls.1.jsonl …)',
    parse: integer(1, 100, 'a file count'), default: () => 5,
  },
  config: {
    flag: 'config', env: 'MCP_MONITOR_CONFIG', type: 'string', help: 'start only: a JSON file of the servers to supervise',
    parse: (raw, cwd) => (raw.trim() === '' ? new BadValue('a file path, not blank') : path.resolve(cwd, raw)),
    default: () => undefined,
  },
};

/**
 * Parses one setting's text as its flag would be (`cwd` resolves relative paths): the value, or
 * what a good value looks like. A config file reuses it, so that its rules are the flags' rules.
 */
export function parseSetting<K extends SettingKey>(key: K, raw: string, cwd: string): { ok: true; value: Settings[K] } | { ok: false; expected: string } {
  const v = SETTINGS[key].parse(raw, cwd);
  return v instanceof BadValue ? { ok: false, expected: v.expected } : { ok: true, value: v as Settings[K] };
}

/** Where a parsed setting came from. */
export type SettingSource = 'flag' | 'env' | 'default';

/** Extra flags of one command that are not settings, e.g. `--json`. */
export interface CommandFlags {
  [flag: string]: { type: 'string' | 'boolean'; short?: string };
}

export interface ParsedCommand<K extends SettingKey> {
  settings: Pick<Settings, K>;
  /** Where each setting came from (a config file fills in only what no flag or env var gave). */
  sources: Record<K, SettingSource>;
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses the argv of one command. `keys` are the settings it takes (flag or env, flag wins,
 * then the default); `extra` are its own flags. Throws {@link UsageError} naming the flag or
 * variable and the bad value.
 */
export function parseCommand<K extends SettingKey>(
  command: string,
  argv: string[],
  env: Record<string, string | undefined>,
  keys: readonly K[],
  options: { extra?: CommandFlags; maxPositionals?: number; cwd: string },
): ParsedCommand<K> {
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const k of keys) parseOptions[SETTINGS[k].flag] = { type: SETTINGS[k].type };
  Object.assign(parseOptions, options.extra ?? {});
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: parseOptions, allowPositionals: true, strict: true }));
  } catch (err) {
    // Node's message goes on with advice about '--'; the first sentence is the point.
    throw new UsageError(`${(err as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '')} (see 'mcp-monitor ${command} --help')`);
  }
  const max = options.maxPositionals ?? 0;
  if (positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[max])} (see 'mcp-monitor ${command} --help')`);

  const settings: Record<string, unknown> = {};
  const sources: Record<string, SettingSource> = {};
  for (const k of keys) {
    const spec = SETTINGS[k];
    const fromFlag = values[spec.flag];
    const fromEnv = env[spec.env];
    let value: unknown;
    let source: string;
    if (fromFlag !== undefined) {
      source = `--${spec.flag}`;
      sources[k] = 'flag';
      value = spec.type === 'boolean' ? fromFlag : spec.parse(String(fromFlag), options.cwd);
    } else if (fromEnv !== undefined && fromEnv !== '') {
      source = spec.env;
      sources[k] = 'env';
      value = spec.parse(fromEnv, options.cwd);
    } else {
      source = 'default';
      sources[k] = 'default';
      value = spec.default(options.cwd, env);
    }
    if (value instanceof BadValue) {
      const raw = fromFlag !== undefined ? fromFlag : fromEnv;
      throw new UsageError(`Invalid ${source}: ${JSON.stringify(raw)} (expected ${value.expected})`);
    }
    settings[k] = value;
  }
  checkOneBackend(settings as Partial<Settings>);
  if (sources.maxSessions === 'default') settings.maxSessions = defaultMaxSessions(settings as Pick<Settings, 'command' | 'maxSessions'>);
  const flags: Record<string, string | boolean | undefined> = {};
  for (const name of Object.keys(options.extra ?? {})) flags[name] = values[name] as string | boolean | undefined;
  flags.help = values.help as boolean | undefined;
  return { settings: settings as Pick<Settings, K>, sources: sources as Record<K, SettingSource>, flags, positionals };
}

/** The settings that choose the child's backend; at most one may be set. */
export const BACKEND_SETTINGS = ['entry', 'upstream', 'command'] as const satisfies readonly SettingKey[];

function checkOneBackend(s: Partial<Settings>): void {
  const set = BACKEND_SETTINGS.filter((k) => s[k] !== undefined);
  if (set.length > 1) {
    const [a, b] = set.map((k) => `--${SETTINGS[k].flag}`);
    throw new UsageError(`${a} and ${b} exclude each other: the child serves one backend (its own factory, a proxied URL or a stdio command)`);
  }
}

/** Help lines for the settings a command takes: `  --port N  MCP_MONITOR_PORT  API port (default 3001)`. */
export function settingsHelp(keys: readonly SettingKey[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return keys
    .map((k) => {
      const s = SETTINGS[k];
      const d = typeof s.shownDefault === 'function' ? s.shownDefault(cwd, env) : (s.shownDefault ?? s.default(cwd, env));
      const flag = `--${s.flag}${s.type === 'boolean' ? '' : ' VALUE'}`;
      return `  ${flag.padEnd(24)} ${s.env.padEnd(28)} ${s.help}${d === undefined || (Array.isArray(d) && d.length === 0) ? '' : ` (default ${d})`}`;
    })
    .join('\n');
}

/**
 * Set by a supervising API when it spawns a replacement child: the pid of the child that died,
 * whose snapshot lock the new one may take over at once. Internal; users never set it.
 */
export const RECLAIM_PID_ENV = 'MCP_MONITOR_RECLAIM_PID';

/**
 * Set to `1` by a supervising API in the environment of every child it spawns (with an IPC
 * channel): a child that finds it but no channel knows its API died before it could listen.
 * Internal; users never set it.
 */
export const SUPERVISED_ENV = 'MCP_MONITOR_SUPERVISED';
