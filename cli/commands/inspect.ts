/**
 * `mcp-monitor inspect [FILE or DIR]`: offline, from the files alone. Validates the snapshot of
 * one server (a snapshot file or a server directory) or of every server in a state directory,
 * prints a summary, a connections table and a verdict; `--at TIME` rebuilds from the journal
 * who was connected at that time.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { countByEra, eraOf } from '../../shared/eras.js';
import { readJournal } from '../../shared/io/read-journal.js';
import { JOURNAL_FILE, SNAPSHOT_FILE, snapshotPath } from '../../shared/paths.js';
import { connectionsAt } from '../../shared/replay.js';
import { listServerIds, readServerState, type ServerState } from '../../shared/io/server-state.js';
import { parseCommand, settingsHelp } from '../../shared/settings.js';
import { snapshotAgeMs, type Connection } from '../../shared/snapshot.js';
import { exitCodeOf, formatDuration, type Verdict } from '../../shared/verdict.js';
import { errnoPhrase } from '../../shared/errno.js';
import { paint, printable, processOutput, shortTime, verdictColor, type Output } from '../output.js';
import { parseTime } from '../parse-time.js';
import { SERVER_ID_FLAG, SERVER_ID_HELP, serverIdFilter } from '../server-id-flag.js';
import { renderTable } from '../table.js';

/** Close reasons shown even at 0: the ones every backend has. */
const ALWAYS_SHOWN_REASONS: ReadonlySet<string> = new Set(['delete', 'close', 'idle', 'shutdown']);

const KEYS = ['stateDir'] as const;

const HELP = (cwd: string) => `Usage: mcp-monitor inspect [FILE or DIR] [options]

Validates persisted snapshots offline and shows who is (or was) connected, and whether the
writer is running, stopped cleanly, or stale (hung or died). FILE is a snapshot.json; DIR is
a server directory (state/<serverId>) or a state directory (every server in it); default the
state directory. ERA is legacy (a session: protocol 2025 and before) or modern (a sessionless
client, 2026-07-28 on, id m-…); an older file or journal line without it is legacy.

  --json                    print {"servers":[{serverId, verdict, snapshot, …}]} alone
  --at TIME                 rebuild from the journal (events.jsonl) who was connected at TIME:
                            2026-11-24T10:00:00Z, ms since the epoch, or a time ago (90s, 5m, 2h)
${SERVER_ID_HELP}
${settingsHelp(KEYS, cwd)}

Exit codes: 0 every writer running with a fresh heartbeat; 2 bad usage; 3 a writer stopped
cleanly; 4 a writer is stale, or a file is missing, unreadable, corrupt or not a snapshot.
`;

interface Target {
  file: string;
  /** Expected id (a server found in a state directory), or undefined for a file named by the user. */
  serverId: string | undefined;
}

/** One entry of `inspect --json`. */
export interface InspectEntry {
  serverId: string;
  file: string;
  verdict: Verdict['state'];
  since: string | null;
  why: string[];
  snapshot: ServerState['snapshot'];
  error: string | null;
  at?: string;
  connections?: Connection[];
}

/** What to inspect; undefined after a diagnostic when there is nothing. */
async function targets(where: string, explicit: boolean, only: string | undefined, output: Output): Promise<Target[] | undefined> {
  let st;
  try {
    st = await stat(where);
  } catch (err) {
    output.warn(`${where}: ${explicit ? '' : 'state directory: '}${errnoPhrase(err)}`);
    return undefined;
  }
  if (!st.isDirectory()) return [{ file: where, serverId: undefined }];
  const has = async (name: string) => stat(path.join(where, name)).then(() => true, () => false);
  // A server directory holds a snapshot or a journal; a state directory holds server directories.
  if ((await has(SNAPSHOT_FILE)) || (await has(JOURNAL_FILE))) return [{ file: path.join(where, SNAPSHOT_FILE), serverId: undefined }];
  let ids: string[];
  try {
    ids = await listServerIds(where);
  } catch (err) {
    output.warn(`${where}: ${errnoPhrase(err)}`);
    return undefined;
  }
  if (only !== undefined) ids = [only];
  if (ids.length === 0) {
    output.warn(`${where}: no snapshots found (neither a state directory with servers nor a server directory)`);
    return undefined;
  }
  return ids.map((id) => ({ file: snapshotPath(where, id), serverId: id }));
}

function verdictLine(s: ServerState, now: number): string {
  const v = s.verdict;
  const snap = s.snapshot;
  switch (v.state) {
    case 'running':
      return `running (pid ${snap!.pid}, up ${formatDuration(now - Date.parse(snap!.startedAt))} since ${v.since}, heartbeat ${formatDuration(snapshotAgeMs(snap!, now))} ago)`;
    case 'stopped':
      return `stopped cleanly at ${v.since} (pid ${snap!.pid})`;
    case 'stale':
      return `stale since ${v.since} (${formatDuration(now - Date.parse(v.since!))} ago): ${v.why.join('; ')}`;
    default:
      return `invalid: ${s.error}`;
  }
}

/** What the server fronts, when not the built-in one: `upstream URL (reachable since …)`, `command CMD`. */
function backendLine(snap: NonNullable<ServerState['snapshot']>): string | undefined {
  const b = snap.backend;
  if (!b || b.kind === 'builtin') return undefined;
  const u = b.upstream;
  const state = !u ? '' : u.reachable ? ` (reachable since ${u.since})` : ` (UNREACHABLE since ${u.since}: ${u.error})`;
  return `  backend    ${b.kind} ${b.target ?? ''}${state}`;
}

/** A stdio process's cell: `pid 4242, 48.2 MiB`. */
function processCell(c: Connection): string {
  if (!c.process) return '-';
  const rss = c.process.rssBytes === null ? '' : `, ${(c.process.rssBytes / 1048576).toFixed(1)} MiB`;
  return `pid ${c.process.pid}${rss}`;
}

function connectionsTable(connections: Connection[], output: Output): string[] {
  if (connections.length === 0) return ['  (no connections)'];
  // The PROCESS column (--command) only when some session has a process.
  const withProcess = connections.some((c) => c.process);
  // Escaped before the table cuts them (see printable in ../output.ts): a cut never splits an
  // escape sequence.
  const rows = connections.map((c) => [
    c.sessionId,
    eraOf(c.era),
    c.clientIP ?? '-',
    c.clientInfo ? `${c.clientInfo.name} ${c.clientInfo.version ?? ''}`.trim() : '-',
    c.userAgent ?? '-',
    shortTime(c.connectedAt),
    shortTime(c.lastActivity),
    String(c.requestCount),
    ...(withProcess ? [processCell(c)] : []),
  ].map(printable));
  const width = output.columns === undefined ? undefined : output.columns - 2;
  const headers = ['SESSION', 'ERA', 'IP', 'CLIENT', 'USER AGENT', 'CONNECTED', 'LAST ACTIVITY', 'REQUESTS', ...(withProcess ? ['PROCESS'] : [])];
  return renderTable(headers, rows, { width, shrinkable: [4, 3, 6, 5, 2, 0] }).map((l) => `  ${l}`);
}

export default async function inspect(argv: string[]): Promise<number> {
  const cwd = process.cwd();
  const { settings, flags, positionals } = parseCommand('inspect', argv, process.env, KEYS, {
    extra: { json: { type: 'boolean' }, at: { type: 'string' }, ...SERVER_ID_FLAG },
    maxPositionals: 1,
    cwd,
  });
  if (flags.help) {
    process.stdout.write(HELP(cwd));
    return 0;
  }
  const only = serverIdFilter(flags['server-id']);
  const at = typeof flags.at === 'string' ? parseTime(flags.at, '--at') : undefined;
  const output = processOutput('inspect');
  const explicit = positionals[0] !== undefined;
  const list = await targets(explicit ? path.resolve(cwd, positionals[0]!) : settings.stateDir, explicit, only, output);
  if (!list) {
    if (flags.json) output.out(JSON.stringify({ servers: [] }));
    return 4;
  }
  const now = Date.now();
  const entries: InspectEntry[] = [];
  const states: ServerState[] = [];
  let journalFailed = false;
  const human: string[] = [];
  for (const t of list) {
    const s = await readServerState(t.file, t.serverId);
    states.push(s);
    const entry: InspectEntry = { serverId: s.serverId, file: s.file, verdict: s.verdict.state, since: s.verdict.since, why: s.verdict.why, snapshot: s.snapshot, error: s.error };
    if (s.verdict.state === 'invalid') output.warn(s.error ?? `${s.file}: invalid`);
    const snap = s.snapshot;
    if (human.length > 0) human.push('');
    // Every text from a file is escaped; only the colour codes are ours.
    human.push(`${s.serverId}: ${paint(output, printable(verdictLine(s, now)), verdictColor(s.verdict.state))}`);
    human.push(printable(`  file       ${s.file}`));
    if (snap) {
      human.push(`  snapshot   seq ${snap.seq}, status ${snap.status}, reason ${snap.reason}, written ${snap.writtenAt} (${formatDuration(snapshotAgeMs(snap, now))} ago, heartbeat ${formatDuration(snap.heartbeatMs)})`);
      human.push(`  started    ${snap.startedAt}`);
      human.push(printable(`  mcp        ${snap.mcp?.url ?? '-'}`));
      const backend = backendLine(snap);
      if (backend) human.push(printable(backend));
      // The four reasons of every backend always; terminated, process-exit, upstream when they happened.
      const closed = snap.sessionsClosed ? `; closed: ${Object.entries(snap.sessionsClosed).filter(([k, v]) => v > 0 || ALWAYS_SHOWN_REASONS.has(k)).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
      const modern = countByEra(snap.connections).modern;
      human.push(`  sessions   ${snap.activeConnections} active (${modern} modern), ${snap.totalConnections} total${closed}`);
    }
    if (at !== undefined) {
      const iso = new Date(at).toISOString();
      entry.at = iso;
      try {
        const journal = await readJournal(path.dirname(s.file), (w) => output.warn(w));
        const replay = connectionsAt(journal.lines, at);
        entry.connections = replay.connections;
        if (replay.incomplete) {
          output.warn(`${path.join(path.dirname(s.file), JOURNAL_FILE)}: the journal ${replay.journalStartsAt ? `begins at ${replay.journalStartsAt}` : 'is empty'}; who was connected before that is not known`);
        }
        const writer = replay.writerUp === null ? 'no writer known' : replay.writerUp ? `writer pid ${replay.pid} up` : `writer pid ${replay.pid} stopped`;
        human.push(`  at ${iso} (from the journal, ${writer}): ${replay.connections.length} connected`);
        if (replay.connections.length > 0) human.push(...connectionsTable(replay.connections, output));
      } catch (err) {
        journalFailed = true;
        output.warn((err as Error).message);
        human.push(`  at ${iso}: no journal to rebuild from`);
      }
    } else if (snap) {
      human.push(...connectionsTable(snap.connections, output));
    }
    entries.push(entry);
  }
  if (flags.json) output.out(JSON.stringify({ servers: entries }));
  else output.out(human.join('\n'));
  const code = exitCodeOf(states.map((s) => s.verdict.state));
  return journalFailed ? 4 : code;
}
