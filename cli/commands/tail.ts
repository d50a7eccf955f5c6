/**
 * `mcp-monitor tail`: follows one server or every server of a state directory and prints each
 * change as it happens. Starts with the current state; works whether or not the API runs;
 * survives writer restarts and a state directory that appears later. Ends on SIGINT/SIGTERM.
 */
import { parseCommand, settingsHelp } from '../../shared/settings.js';
import { formatDuration } from '../../shared/verdict.js';
import { paint, printable, processOutput, verdictColor, type Color, type Output } from '../output.js';
import { SERVER_ID_FLAG, SERVER_ID_HELP, serverIdFilter } from '../server-id-flag.js';
import type { TailEvent } from '../server-tracker.js';
import { StateDirFollower } from '../state-dir-follower.js';

const KEYS = ['stateDir'] as const;

const HELP = (cwd: string) => `Usage: mcp-monitor tail [options]

Follows the state directory and prints connection events as they happen: the current state
first, then who connected (session id, protocol era, IP, client, user agent), who left and why, writer
starts, restarts and stops, and heartbeats that go stale. Works with or without the API.
Ends on Ctrl-C (exit 0).

  --json                    one JSON object a line ({"event":"connect",…})
${SERVER_ID_HELP}
${settingsHelp(KEYS, cwd)}

Events: state, start, running, connect, disconnect (reason delete | close | idle | shutdown |
terminated | process-exit | upstream | writer-died | unknown; a session ended on request says
by whom: "by" in --json), stop, stale, fresh, invalid. Connections are of the legacy era
(sessions, protocol 2025 and before) or the modern one (sessionless clients, 2026-07-28 on,
ids m-…): connect and disconnect say which ("era" in --json).
`;

const EVENT_COLOR: Partial<Record<TailEvent['event'], Color>> = { connect: 'green', disconnect: 'yellow', start: 'bold', stop: 'yellow', stale: 'red', invalid: 'red', fresh: 'green' };

function client(info: { name: string; version?: string } | null): string {
  return info ? `${info.name}${info.version ? ` ${info.version}` : ''}` : 'unknown client';
}

/**
 * One human line (or a few, for `state`) of an event. What follows the head of each line comes
 * from the state files, a client's strings among them: it is made {@link printable}.
 */
export function formatEvent(e: TailEvent, output: Pick<Output, 'color'>): string {
  const head = `${e.ts} ${e.serverId} ${paint(output, e.event.padEnd(10), EVENT_COLOR[e.event] ?? (e.event === 'state' ? verdictColor(e.verdict) : undefined))}`;
  if (e.event === 'state') {
    if (e.pid === null) return `${head} ${printable(`${e.verdict}: ${e.error ?? 'no snapshot'}`)}`;
    const why = e.why.length > 0 ? ` (${e.why.join('; ')})` : '';
    const lines = [`${head} ${printable(`${e.verdict}${why}, pid ${e.pid}, ${e.activeConnections} active, ${e.totalConnections} total${e.mcpUrl ? `, ${e.mcpUrl}` : ''}`)}`];
    for (const c of e.connections) lines.push(`${e.ts} ${e.serverId}   open     ${printable(`${c.sessionId} (${c.era === 'modern' ? 'modern' : 'legacy'}) from ${c.clientIP ?? '?'}, ${client(c.clientInfo)}, user agent ${JSON.stringify(c.userAgent ?? '-')}, since ${c.connectedAt}`)}`);
    return lines.join('\n');
  }
  return `${head} ${printable(body(e))}`;
}

/** The text after the head of a one-line event, raw. */
function body(e: Exclude<TailEvent, { event: 'state' }>): string {
  switch (e.event) {
    case 'start':
      return `writer pid ${e.pid} started${e.restart ? ` (restart: previous pid ${e.previousPid} ${e.previousStoppedCleanly ? 'stopped cleanly' : 'died'})` : ''}`;
    case 'running':
      return `pid ${e.pid} serving ${e.mcpUrl ?? '-'}`;
    case 'connect':
      return `${e.sessionId} (${e.era}) from ${e.clientIP ?? '?'}, ${client(e.clientInfo)}, user agent ${JSON.stringify(e.userAgent ?? '-')}`;
    case 'disconnect': {
      const after = e.durationMs === null ? '' : ` after ${formatDuration(e.durationMs)}`;
      const reqs = e.requestCount === null ? '' : `, ${e.requestCount} request${e.requestCount === 1 ? '' : 's'}`;
      return `${e.sessionId} (${e.era}, ${e.clientIP ?? '?'}, ${client(e.clientInfo)}) reason ${e.reason}${e.by === null ? '' : ` by ${e.by}`}${after}${reqs}`;
    }
    case 'stop':
      return `writer pid ${e.pid} stopped cleanly`;
    case 'stale':
      return `writer pid ${e.pid}: ${e.why.join('; ')} (last heartbeat ${e.since})`;
    case 'fresh':
      return `writer pid ${e.pid}: heartbeat fresh again`;
    case 'invalid':
      return `${e.error}`;
  }
}

export default async function tail(argv: string[]): Promise<number> {
  const cwd = process.cwd();
  const { settings, flags } = parseCommand('tail', argv, process.env, KEYS, { extra: { json: { type: 'boolean' }, ...SERVER_ID_FLAG }, cwd });
  if (flags.help) {
    process.stdout.write(HELP(cwd));
    return 0;
  }
  const serverId = serverIdFilter(flags['server-id']);
  const output = processOutput('tail');
  const said = new Set<string>();
  const follower = new StateDirFollower({
    stateDir: settings.stateDir,
    serverId,
    emit: (e) => output.out(flags.json ? JSON.stringify(e) : formatEvent(e, output)),
    // The same trouble is seen on every poll: say it once.
    warn: (m) => {
      if (said.has(m)) return;
      said.add(m);
      output.warn(m);
    },
  });
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = () => stop();
  // A reader that went away (`tail | head`): nothing more to say.
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.on('error', onStdoutError);
  try {
    try {
      await follower.start();
    } catch (err) {
      output.warn(`${settings.stateDir}: ${(err as Error).message}`);
      return 4;
    }
    await stopped;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await follower.close();
    process.stdout.off('error', onStdoutError);
  }
  return 0;
}
