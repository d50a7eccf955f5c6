/**
 * `mcp-monitor status`: one line per server found in the state directory, like `pm2 list`.
 * `--json` prints `{servers:[…]}` with the entries of `GET /api/mcp/servers`, where `status` is
 * the verdict (the CLI supervises nothing: `restarts` is null).
 */
import { snapshotPath } from '../../shared/paths.js';
import { listServerIds, readServerState, type ServerState } from '../../shared/io/server-state.js';
import { parseCommand, settingsHelp } from '../../shared/settings.js';
import { snapshotFacts, type ServerSummary } from '../../shared/server-summary.js';
import { exitCodeOf, formatDuration } from '../../shared/verdict.js';
import { errnoPhrase } from '../../shared/errno.js';
import { paint, printable, processOutput, shortTime, verdictColor, type Output } from '../output.js';
import { SERVER_ID_FLAG, SERVER_ID_HELP, serverIdFilter } from '../server-id-flag.js';
import { renderTable } from '../table.js';

const KEYS = ['stateDir'] as const;

const HELP = (cwd: string) => `Usage: mcp-monitor status [options]

One line per server in the state directory: status, pid, start, uptime, sessions, heartbeat age.
ACTIVE counts every connection open now; MODERN, those of them that are sessionless clients
(protocol 2026-07-28 on); the rest are legacy sessions. Works from the files alone, whether
or not the API runs.

  --json                    print {"servers":[…]} (the entries of GET /api/mcp/servers)
${SERVER_ID_HELP}
${settingsHelp(KEYS, cwd)}

Exit codes: 0 every server running with a fresh heartbeat; 2 bad usage;
3 a server stopped cleanly; 4 a server is stale (hung or died), its snapshot is invalid
or missing, or there is no server at all.
`;

/** One entry of `status --json`: a `GET /api/mcp/servers` entry (shared/server-summary.ts) and two fields more. */
export interface StatusEntry extends ServerSummary<ServerState['verdict']['state']> {
  restarts: null;
  /** Since the writer started, while it runs. */
  uptimeMs: number | null;
  /** Since when the verdict holds (see `inspect`). */
  since: string | null;
}

export function statusEntry(s: ServerState, now: number): StatusEntry {
  const snap = s.snapshot;
  return {
    serverId: s.serverId,
    status: s.verdict.state,
    pid: snap?.pid ?? null,
    restarts: null,
    ...snapshotFacts(snap, now),
    stale: s.verdict.state === 'stale',
    snapshotError: s.error,
    uptimeMs: snap && s.verdict.state === 'running' ? Math.max(0, now - Date.parse(snap.startedAt)) : null,
    since: s.verdict.since,
  };
}

/** Lists the servers of a state directory (or only `only`); reports a missing directory on `output`. */
export async function serverStates(stateDir: string, only: string | undefined, output: Output): Promise<ServerState[] | undefined> {
  let ids: string[];
  try {
    ids = await listServerIds(stateDir);
  } catch (err) {
    output.warn(`${stateDir}: ${errnoPhrase(err, 'state directory')}`);
    return undefined;
  }
  if (only !== undefined) ids = [only];
  if (ids.length === 0) {
    output.warn(`${stateDir}: no server found (no <serverId>/snapshot.json)`);
    return [];
  }
  return Promise.all(ids.map((id) => readServerState(snapshotPath(stateDir, id), id)));
}

export default async function status(argv: string[]): Promise<number> {
  const cwd = process.cwd();
  const { settings, flags } = parseCommand('status', argv, process.env, KEYS, { extra: { json: { type: 'boolean' }, ...SERVER_ID_FLAG }, cwd });
  if (flags.help) {
    process.stdout.write(HELP(cwd));
    return 0;
  }
  const only = serverIdFilter(flags['server-id']);
  const output = processOutput('status');
  const states = await serverStates(settings.stateDir, only, output);
  const now = Date.now();
  const entries = (states ?? []).map((s) => statusEntry(s, now));
  if (flags.json) {
    output.out(JSON.stringify({ servers: entries }));
  } else if (states) {
    const rows = entries.map((e) => [
      e.serverId,
      e.status,
      e.pid === null ? '-' : String(e.pid),
      shortTime(e.startedAt),
      e.uptimeMs === null ? '-' : formatDuration(e.uptimeMs),
      String(e.activeConnections),
      String(e.activeByEra.modern),
      String(e.totalConnections),
      e.heartbeatAgeMs === null ? '-' : formatDuration(e.heartbeatAgeMs),
      e.mcpUrl ?? '-',
    ].map(printable));
    if (rows.length > 0) {
      const lines = renderTable(['SERVER', 'STATUS', 'PID', 'STARTED', 'UPTIME', 'ACTIVE', 'MODERN', 'TOTAL', 'HEARTBEAT', 'MCP URL'], rows, {
        width: output.columns,
        // The URL first, then the start time; never the id, status or numbers.
        shrinkable: [9, 3],
        paint: (text, row, col) => (col === 1 ? paint(output, text, verdictColor(entries[row]!.status)) : text),
      });
      output.out(lines.join('\n'));
    }
  }
  for (const s of states ?? []) {
    if (s.verdict.state === 'invalid') output.warn(s.error ?? `${s.file}: invalid`);
    else if (s.verdict.state === 'stale') output.warn(`${s.serverId}: stale since ${s.verdict.since} (${s.verdict.why.join('; ')})`);
  }
  return states ? exitCodeOf(states.map((s) => s.verdict.state)) : 4;
}
