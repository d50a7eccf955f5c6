/**
 * `start --config FILE`: a JSON file of the servers one API supervises. Top-level
 * keys are API settings by their camelCase names; `servers` lists each child with its `id`, its
 * child settings by name, `env` (extra environment of a `command`) and `autostart`. Every value
 * goes through the parser of its flag (shared/settings.ts), so the rules are the flags' rules.
 * Relative paths are relative to the file. Any mistake is a {@link ConfigError}: one line naming
 * the file and the key, e.g. `config.json: servers[2].mcpPort: 3322 is also servers[0].mcpPort`.
 * Reading the file is shared/io/read-config-file.ts.
 */
import path from 'node:path';
import { joinCommandLine } from './command-line.js';
import { jsonSyntaxError } from './json-syntax-error.js';
import { SERVER_ID_RE } from './paths.js';
import { BACKEND_SETTINGS, defaultMaxSessions, SETTINGS, UsageError, parseSetting, type SettingKey, type Settings } from './settings.js';

/** API settings a config file may set at its top level (a flag or env var wins over them). */
export const CONFIG_API_KEYS = ['port', 'host', 'stateDir', 'token', 'allowedHosts'] as const satisfies readonly SettingKey[];
export type ConfigApiKey = (typeof CONFIG_API_KEYS)[number];

/** Child settings each server of a config file may set (with `--config`, only there). */
export const CONFIG_SERVER_KEYS = [
  'mcpPort', 'mcpHost', 'heartbeatMs', 'maxSessions', 'sessionIdleMs', 'entry', 'upstream', 'command', 'trustProxy',
  'allowedHosts', 'clientWindowMs', 'journalMaxBytes', 'journalFiles', 'calls', 'callsMaxBytes', 'callsFiles',
] as const satisfies readonly SettingKey[];
export type ConfigServerKey = (typeof CONFIG_SERVER_KEYS)[number];

/** A config file larger than this is refused: it is a list of servers, not data. */
export const CONFIG_MAX_BYTES = 1024 * 1024;
/** Servers one config may list: each is a process of its own. */
export const CONFIG_MAX_SERVERS = 100;
const ENV_MAX_VARS = 100;
const ENV_VALUE_MAX = 32 * 1024;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** The child reads these as its own settings: a config sets them as keys of the server instead. */
const OWN_ENV_PREFIX = 'MCP_MONITOR_';

/** One server of the file, its settings complete (defaults filled in, paths absolute). */
export interface ServerConfig {
  id: string;
  settings: Pick<Settings, ConfigServerKey>;
  /** Extra environment of its `command` processes (empty for other backends). */
  env: Record<string, string>;
  /** Spawned when the API starts; else listed as `stopped` until started. Default true. */
  autostart: boolean;
}

export interface FleetConfig {
  /** The file, absolute. */
  file: string;
  /** The API settings the file gives (only those it gives). */
  api: Partial<Pick<Settings, ConfigApiKey>>;
  /** In the file's order; the first answers `GET /api/mcp/connections`. */
  servers: ServerConfig[];
  /** Its permission bits (`stat().mode & 0o777`) when read from disk; undefined when parsed from text. */
  mode?: number;
}

/** A mistake in a config file: a usage error (exit 2) whose message names the file and the key. */
export class ConfigError extends UsageError {
  constructor(shownFile: string, where: string, why: string) {
    super(`${shownFile}: ${where ? `${where}: ` : ''}${why}`);
    this.name = 'ConfigError';
  }
}

/** How a JSON value of each setting is checked before its flag's parser sees it as text. */
const JSON_KIND: Record<ConfigApiKey | ConfigServerKey, 'integer' | 'string' | 'command' | 'hosts' | 'trustProxy' | 'onOff'> = {
  port: 'integer', host: 'string', stateDir: 'string', token: 'string', allowedHosts: 'hosts',
  mcpPort: 'integer', mcpHost: 'string', heartbeatMs: 'integer', maxSessions: 'integer', sessionIdleMs: 'integer',
  entry: 'string', upstream: 'string', command: 'command', trustProxy: 'trustProxy', clientWindowMs: 'integer',
  journalMaxBytes: 'integer', journalFiles: 'integer', calls: 'onOff', callsMaxBytes: 'integer', callsFiles: 'integer',
};

/** Values never echoed in an error: a secret, or a URL that may hold credentials. */
const SECRET_KEYS = new Set<string>(['token', 'upstream']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function shown(v: unknown): string {
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Edit distance of two short keys (Levenshtein), for the hint of an unknown key. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** Why a key is unknown: `mcp-port`, `mcpport` or `mcpPrt` → did you mean `mcpPort`; else the known keys. */
function unknownKey(key: string, known: readonly string[]): string {
  const norm = (k: string) => k.toLowerCase().replace(/[-_]/g, '');
  const hit = known.find((k) => norm(k) === norm(key)) ?? known.find((k) => key.length <= 64 && distance(norm(k), norm(key)) <= 2);
  return hit ? `unknown key (did you mean ${JSON.stringify(hit)}?)` : `unknown key (known: ${known.join(', ')})`;
}

/** Parses the text of a config file. Pure: `file` is absolute, `shownFile` is how errors name it. */
export function parseConfigText(text: string, file: string, shownFile = file): FleetConfig {
  function fail(where: string, why: string): never {
    throw new ConfigError(shownFile, where, why);
  }
  const dir = path.dirname(file);
  // A UTF-8 byte order mark is not JSON, but editors write one: it is not the user's mistake.
  const body = text.startsWith('\ufeff') ? text.slice(1) : text;
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    const at = jsonSyntaxError(body);
    fail('', at ? `not valid JSON: line ${at.line}, column ${at.column}: unexpected ${at.found}` : 'not valid JSON');
  }
  if (!isObject(doc)) return fail('', `expected a JSON object with "servers", not ${typeName(doc)}`);

  /** One setting's JSON value, checked and parsed by its flag's rules. */
  const settingOf = <K extends ConfigApiKey | ConfigServerKey>(key: K, v: unknown, where: string): Settings[K] => {
    const kind = JSON_KIND[key];
    let raw: string | undefined;
    if (kind === 'integer' && typeof v === 'number') raw = String(v);
    else if (kind === 'string' && typeof v === 'string') raw = v;
    else if (kind === 'trustProxy' && (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string')) raw = String(v);
    else if (kind === 'command' && typeof v === 'string') raw = v;
    else if (kind === 'onOff' && typeof v === 'boolean') raw = v ? 'on' : 'off';
    else if (kind === 'onOff' && typeof v === 'string') raw = v;
    else if (kind === 'command' && Array.isArray(v)) raw = commandOf(v, where);
    else if (kind === 'hosts' && typeof v === 'string') raw = v;
    else if (kind === 'hosts' && Array.isArray(v)) {
      v.forEach((h, i) => {
        if (typeof h !== 'string' || h.trim() === '' || h.includes(',')) fail(`${where}[${i}]`, `expected a host name, not ${shown(h)}`);
      });
      raw = v.join(',');
    }
    const wanted = { integer: 'a number', string: 'a string', command: 'an array of strings or a string', hosts: 'an array of host names or a string', trustProxy: 'a number, "loopback" or false', onOff: '"on", "off", true or false' }[kind];
    if (raw === undefined) return fail(where, `expected ${wanted}, not ${typeName(v)}`);
    const r = parseSetting(key, raw, dir);
    if (!r.ok) return fail(where, `${SECRET_KEYS.has(key) ? 'not a valid value' : `${shown(v)} is not valid`} (expected ${r.expected})`);
    return r.value;
  };

  const commandOf = (v: unknown[], where: string): string => {
    if (v.length === 0) fail(where, 'an empty command (expected the program and its arguments)');
    v.forEach((w, i) => {
      if (typeof w !== 'string') fail(`${where}[${i}]`, `expected a string, not ${typeName(w)}`);
      if (w.includes('\0')) fail(`${where}[${i}]`, 'a NUL character');
    });
    if (v[0] === '') fail(`${where}[0]`, 'an empty program name');
    return joinCommandLine(v as string[]);
  };

  const api: Partial<Pick<Settings, ConfigApiKey>> = {};
  for (const key of Object.keys(doc)) {
    if (key === 'servers') continue;
    if ((CONFIG_API_KEYS as readonly string[]).includes(key)) {
      (api as Record<string, unknown>)[key] = settingOf(key as ConfigApiKey, doc[key], key);
    } else if ((CONFIG_SERVER_KEYS as readonly string[]).includes(key)) {
      fail(key, `a setting of each server: give it in servers[] (e.g. servers[0].${key})`);
    } else {
      fail(key, unknownKey(key, [...CONFIG_API_KEYS, 'servers']));
    }
  }

  const list = doc.servers;
  if (list === undefined) fail('servers', 'missing (a list of the servers to supervise)');
  if (!Array.isArray(list)) return fail('servers', `expected an array of servers, not ${typeName(list)}`);
  if (list.length === 0) fail('servers', 'an empty list (expected at least one server)');
  if (list.length > CONFIG_MAX_SERVERS) fail('servers', `${list.length} servers (at most ${CONFIG_MAX_SERVERS})`);

  const serverKeys = ['id', ...CONFIG_SERVER_KEYS, 'env', 'autostart'];
  const servers: ServerConfig[] = [];
  const idAt = new Map<string, number>();
  const portAt = new Map<number, number>();
  list.forEach((entry: unknown, n) => {
    const at = `servers[${n}]`;
    if (!isObject(entry)) fail(at, `expected an object with "id", not ${typeName(entry)}`);
    const o = entry as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (serverKeys.includes(key)) continue;
      if ((CONFIG_API_KEYS as readonly string[]).includes(key) || key === 'stateDir') fail(`${at}.${key}`, 'an API setting: give it at the top level of the file');
      fail(`${at}.${key}`, unknownKey(key, serverKeys));
    }
    if (o.id === undefined) fail(`${at}.id`, 'missing (each server needs an id)');
    if (typeof o.id !== 'string' || !SERVER_ID_RE.test(o.id)) fail(`${at}.id`, `${shown(o.id)} is not valid (expected a server id, [A-Za-z0-9_-]{1,64})`);
    const id = o.id as string;
    const firstId = idAt.get(id);
    if (firstId !== undefined) fail(`${at}.id`, `${shown(id)} is also servers[${firstId}].id`);
    idAt.set(id, n);

    const settings: Record<string, unknown> = {};
    for (const key of CONFIG_SERVER_KEYS) {
      settings[key] = o[key] === undefined ? SETTINGS[key].default(dir, {}) : settingOf(key, o[key], `${at}.${key}`);
    }
    if (o.maxSessions === undefined) settings.maxSessions = defaultMaxSessions(settings as Pick<Settings, 'command' | 'maxSessions'>);
    const backends = BACKEND_SETTINGS.filter((k) => o[k] !== undefined);
    if (backends.length > 1) fail(`${at}.${backends[1]}`, `${backends[0]} and ${backends[1]} exclude each other (a server serves one backend)`);

    const port = settings.mcpPort as number;
    const firstPort = portAt.get(port);
    // Port 0 is "any free port": it may repeat.
    if (port !== 0 && firstPort !== undefined) fail(`${at}.mcpPort`, `${port}${o.mcpPort === undefined ? ' (the default)' : ''} is also servers[${firstPort}].mcpPort`);
    if (port !== 0) portAt.set(port, n);

    const env = envOf(o.env, `${at}.env`, o.command !== undefined, fail);
    if (o.autostart !== undefined && typeof o.autostart !== 'boolean') fail(`${at}.autostart`, `expected true or false, not ${typeName(o.autostart)}`);
    servers.push({ id, settings: settings as ServerConfig['settings'], env, autostart: o.autostart !== false });
  });
  return { file, api, servers };
}

/** The `env` of a server: names and string values, only for a `command` (its processes' environment). */
function envOf(v: unknown, where: string, isCommand: boolean, fail: (where: string, why: string) => never): Record<string, string> {
  if (v === undefined) return {};
  if (!isCommand) fail(where, 'only for a server with a command (the environment of its processes)');
  if (!isObject(v)) fail(where, `expected an object of names and strings, not ${typeName(v)}`);
  const names = Object.keys(v as object);
  if (names.length > ENV_MAX_VARS) fail(where, `${names.length} variables (at most ${ENV_MAX_VARS})`);
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = (v as Record<string, unknown>)[name];
    const at = `${where}.${name}`;
    if (!ENV_NAME_RE.test(name)) fail(`${where}`, `${shown(name)} is not a variable name (letters, digits and _, not starting with a digit)`);
    if (name.startsWith(OWN_ENV_PREFIX)) fail(at, `mcp-monitor's own settings are keys of the server, not variables (${name} would be ignored or leak the API's token)`);
    if (typeof value !== 'string') fail(at, `expected a string, not ${typeName(value)}`);
    if ((value as string).includes('\0') || (value as string).length > ENV_VALUE_MAX) fail(at, `expected a string of at most ${ENV_VALUE_MAX} characters without NUL`);
    env[name] = value as string;
  }
  return env;
}

/** True when an upstream URL carries a secret: a user name or password, or a query (`?api_key=`). */
function urlHoldsSecret(raw: string): boolean {
  const u = new URL(raw);
  return u.username !== '' || u.password !== '' || u.search !== '';
}

/**
 * The keys of `config` that hold a secret (`token`, an upstream with credentials or a query),
 * when other users may read the file (group or others have read permission); else empty.
 */
export function exposedSecrets(config: FleetConfig): string[] {
  if (config.mode === undefined || (config.mode & 0o044) === 0) return [];
  const keys = config.api.token !== undefined ? ['token'] : [];
  config.servers.forEach((s, n) => {
    if (s.settings.upstream !== undefined && urlHoldsSecret(s.settings.upstream)) keys.push(`servers[${n}].upstream`);
  });
  return keys;
}
