/**
 * Settings of contract section 3: each is a flag and an environment variable, the flag wins.
 * Parsing is pure: argv and env come in, typed settings or a {@link UsageError} come out.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SERVER_ID_RE } from './paths.js';

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
  /** The shared state directory, absolute. Default `./state`. */
  stateDir: string;
  /** Id of the MCP server, `[A-Za-z0-9_-]{1,64}`. Default `default`. */
  serverId: string;
  /** Heartbeat interval of the snapshot writer. Default 2000. */
  heartbeatMs: number;
  /** Bearer token for the API; undefined = no auth. */
  token: string | undefined;
  /** Sessions one MCP child holds at once. Default 1000. */
  maxSessions: number;
  /** Idle time after which a session is closed; 0 = never. Default 1800000. */
  sessionIdleMs: number;
  /** Module whose default export is a factory `() => McpServer`; undefined = built-in tools. */
  entry: string | undefined;
  /** Take the client IP from X-Forwarded-For. Default false. */
  trustProxy: boolean;
  /** The event journal `events.jsonl` is rotated before it would grow past this. Default 10 MiB. */
  journalMaxBytes: number;
  /** Rotated journal files kept (`events.1.jsonl` … `events.N.jsonl`). Default 5. */
  journalFiles: number;
}

export type SettingKey = keyof Settings;

interface Spec {
  flag: string;
  env: string;
  type: 'string' | 'boolean';
  help: string;
  /** Turns the raw text into the value, or returns a reason it is bad. */
  parse: (raw: string, cwd: string) => unknown;
  default: (cwd: string) => unknown;
  /** How help shows the default, when not as computed (e.g. relative to the cwd). */
  shownDefault?: string;
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

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

export const SETTINGS: Record<SettingKey, Spec> = {
  port: { flag: 'port', env: 'MCP_MONITOR_PORT', type: 'string', help: 'API port (0 = any free port)', parse: integer(0, 65535, 'a port'), default: () => 3001 },
  host: { flag: 'host', env: 'MCP_MONITOR_HOST', type: 'string', help: 'API bind address', parse: text('a host'), default: () => '127.0.0.1' },
  mcpPort: { flag: 'mcp-port', env: 'MCP_MONITOR_MCP_PORT', type: 'string', help: 'MCP child port (0 = any free port)', parse: integer(0, 65535, 'a port'), default: () => 3322 },
  mcpHost: { flag: 'mcp-host', env: 'MCP_MONITOR_MCP_HOST', type: 'string', help: 'MCP child bind address', parse: text('a host'), default: () => '127.0.0.1' },
  stateDir: {
    flag: 'state-dir', env: 'MCP_MONITOR_STATE_DIR', type: 'string', help: 'the shared state directory',
    parse: (raw, cwd) => (raw.trim() === '' ? new BadValue('a directory, not blank') : path.resolve(cwd, raw)),
    default: (cwd) => path.resolve(cwd, 'state'),
    shownDefault: './state',
  },
  serverId: {
    flag: 'server-id', env: 'MCP_MONITOR_SERVER_ID', type: 'string', help: 'id of the MCP server, [A-Za-z0-9_-]{1,64}',
    parse: (raw) => (SERVER_ID_RE.test(raw) ? raw : new BadValue('a server id ([A-Za-z0-9_-]{1,64})')),
    default: () => 'default',
  },
  heartbeatMs: { flag: 'heartbeat-ms', env: 'MCP_MONITOR_HEARTBEAT_MS', type: 'string', help: 'heartbeat of the snapshot writer, ms', parse: integer(50, 3_600_000, 'milliseconds'), default: () => 2000 },
  token: { flag: 'token', env: 'MCP_MONITOR_TOKEN', type: 'string', help: 'bearer token required by the API', parse: text('a token'), default: () => undefined },
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
  trustProxy: {
    flag: 'trust-proxy', env: 'MCP_MONITOR_TRUST_PROXY', type: 'boolean', help: 'client IP from X-Forwarded-For',
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      return new BadValue('a boolean (1/0, true/false, yes/no, on/off)');
    },
    default: () => false,
  },
  journalMaxBytes: {
    flag: 'journal-max-bytes', env: 'MCP_MONITOR_JOURNAL_MAX_BYTES', type: 'string', help: 'rotate events.jsonl before it grows past this, bytes',
    parse: integer(1024, 2 ** 40, 'bytes'), default: () => 10 * 1024 * 1024,
  },
  journalFiles: {
    flag: 'journal-files', env: 'MCP_MONITOR_JOURNAL_FILES', type: 'string', help: 'rotated journal files kept (events.1.jsonl …)',
    parse: integer(1, 100, 'a file count'), default: () => 5,
  },
};

/** Extra flags of one command that are not settings, e.g. `--json`. */
export interface CommandFlags {
  [flag: string]: { type: 'string' | 'boolean'; short?: string };
}

export interface ParsedCommand<K extends SettingKey> {
  settings: Pick<Settings, K>;
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
  for (const k of keys) {
    const spec = SETTINGS[k];
    const fromFlag = values[spec.flag];
    const fromEnv = env[spec.env];
    let value: unknown;
    let source: string;
    if (fromFlag !== undefined) {
      source = `--${spec.flag}`;
      value = spec.type === 'boolean' ? fromFlag : spec.parse(String(fromFlag), options.cwd);
    } else if (fromEnv !== undefined && fromEnv !== '') {
      source = spec.env;
      value = spec.parse(fromEnv, options.cwd);
    } else {
      source = 'default';
      value = spec.default(options.cwd);
    }
    if (value instanceof BadValue) {
      const raw = fromFlag !== undefined ? fromFlag : fromEnv;
      throw new UsageError(`Invalid ${source}: ${JSON.stringify(raw)} (expected ${value.expected})`);
    }
    settings[k] = value;
  }
  const flags: Record<string, string | boolean | undefined> = {};
  for (const name of Object.keys(options.extra ?? {})) flags[name] = values[name] as string | boolean | undefined;
  flags.help = values.help as boolean | undefined;
  return { settings: settings as Pick<Settings, K>, flags, positionals };
}

/** Help lines for the settings a command takes: `  --port N  MCP_MONITOR_PORT  API port (default 3001)`. */
export function settingsHelp(keys: readonly SettingKey[], cwd: string): string {
  return keys
    .map((k) => {
      const s = SETTINGS[k];
      const d = s.shownDefault ?? s.default(cwd);
      const flag = `--${s.flag}${s.type === 'boolean' ? '' : ' VALUE'}`;
      return `  ${flag.padEnd(24)} ${s.env.padEnd(28)} ${s.help}${d === undefined ? '' : ` (default ${d})`}`;
    })
    .join('\n');
}

/**
 * Set by a supervising API when it spawns a replacement child: the pid of the child that died,
 * whose snapshot lock the new one may take over at once. Internal; users never set it.
 */
export const RECLAIM_PID_ENV = 'MCP_MONITOR_RECLAIM_PID';
