/**
 * `mcp-monitor calls`: prints the calls journal of one server (`calls.jsonl` and its rotated
 * files, oldest first, see shared/calls.ts): every line, or those since `--since`; `--follow`
 * then goes on printing new lines as they come, across rotations as `tail` does
 * (cli/journal-follower.ts), until SIGINT/SIGTERM. `--json` prints the lines as they are, one a
 * line; else a table (time, client, session, method, name, duration, outcome) whose cells are
 * made printable. Exit 0 whatever the server's status, 4 when its directory is missing, 2 bad usage.
 */
import { stat } from 'node:fs/promises';
import { parseCallLine, type CallLine } from '../../shared/calls.js';
import { CALLS_JOURNAL } from '../../shared/journal-names.js';
import { callsPath, serverDir } from '../../shared/paths.js';
import { parseCommand, settingsHelp } from '../../shared/settings.js';
import { JournalFollower } from '../journal-follower.js';
import { paint, printable, processOutput, type Color, type Output } from '../output.js';
import { parseTime } from '../parse-time.js';
import { cut } from '../table.js';

const KEYS = ['stateDir', 'serverId'] as const;

/** How often `--follow` looks for new lines. */
const POLL_MS = 250;
/** Lines read (and printed) at a time: the journal is never held in memory whole. */
const BATCH = 1000;

const HELP = (cwd: string) => `Usage: mcp-monitor calls [options]

Prints the calls journal of a server (<state-dir>/<server-id>/calls.jsonl and its rotated
files, oldest first): one line per request a client made, with its time (when it ended),
client, session, method, tool or prompt name, duration and outcome (ok, error, tool_error,
rejected). Never arguments or results: the journal holds none. Works with or without the API.

  --since TIME              only the calls that ended at or after TIME: 2026-11-24T10:00:00Z,
                            ms since the epoch, or a time ago (30s, 5m, 2h, 1d)
  --follow                  then print new calls as they come (across rotations), until Ctrl-C
  --json                    the journal's lines as they are, one JSON object a line
${settingsHelp(KEYS, cwd)}

Exit codes: 0 printed (whatever the server's status; none is fine); 2 bad usage; 4 no such
server directory.
`;

const OUTCOME_COLOR: Record<CallLine['outcome'], Color | undefined> = { ok: undefined, error: 'red', tool_error: 'yellow', rejected: 'dim' };

/** Column widths of the table; rows are printed as they come, so the widths are fixed. */
const COLUMNS = [
  { head: 'TIME', width: 24 },
  { head: 'CLIENT', width: 20 },
  { head: 'SESSION', width: 36 },
  { head: 'METHOD', width: 20 },
  { head: 'NAME', width: 24 },
  { head: 'DURATION', width: 10 },
  { head: 'OUTCOME', width: 0 },
] as const;

/** A duration in milliseconds as the table shows it: `0.42ms`, `12.3ms`, `1.52s`. */
export function formatCallDuration(ms: number): string {
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${ms.toFixed(1)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

/**
 * One table row. Every cell a client could have chosen (client, session, method, name) is made
 * {@link printable}; on a terminal (`cutCells`) long cells are cut to their column, else kept
 * whole for grep.
 */
export function formatCallRow(cells: readonly string[], output: Pick<Output, 'color'>, cutCells: boolean, outcome?: CallLine['outcome']): string {
  return cells
    .map((raw, i) => {
      const { width } = COLUMNS[i]!;
      const text = printable(raw);
      if (width === 0) return outcome ? paint(output, text, OUTCOME_COLOR[outcome]) : text;
      const shown = cutCells ? cut(text, width) : text;
      return shown.padEnd(width);
    })
    .join('  ')
    .trimEnd();
}

function rowOf(l: CallLine, output: Pick<Output, 'color'>, cutCells: boolean): string {
  const outcome = l.errorCode === null ? l.outcome : `${l.outcome} ${l.errorCode}`;
  return formatCallRow([l.ts, l.client ?? '-', l.sessionId ?? '-', l.method || '-', l.name ?? '-', formatCallDuration(l.durationMs), outcome], output, cutCells, l.outcome);
}

export default async function calls(argv: string[]): Promise<number> {
  const cwd = process.cwd();
  const { settings, flags } = parseCommand('calls', argv, process.env, KEYS, {
    extra: { since: { type: 'string' }, follow: { type: 'boolean' }, json: { type: 'boolean' } },
    cwd,
  });
  if (flags.help) {
    process.stdout.write(HELP(cwd));
    return 0;
  }
  const since = typeof flags.since === 'string' ? parseTime(flags.since, '--since') : undefined;
  const output = processOutput('calls');
  const dir = serverDir(settings.stateDir, settings.serverId);
  try {
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    output.warn(`no server ${JSON.stringify(settings.serverId)} in ${settings.stateDir} (no directory ${dir})`);
    return 4;
  }

  const said = new Set<string>();
  const follower = new JournalFollower<{ text: string; line: CallLine }>(callsPath(settings.stateDir, settings.serverId), {
    fromOldest: true,
    names: CALLS_JOURNAL,
    // The text is kept as well: --json prints the line exactly as the journal holds it.
    parse: (text) => ({ text, line: parseCallLine(text) }),
    lineName: 'calls line',
    onWarning: (m) => {
      // The same trouble may be seen on every poll: say it once.
      if (said.has(m)) return;
      said.add(m);
      output.warn(m);
    },
  });
  const cutCells = output.columns !== undefined;
  if (!flags.json) output.out(formatCallRow(COLUMNS.map((c) => c.head), output, cutCells));
  const print = (batch: { text: string; line: CallLine }[]) => {
    const shown = since === undefined ? batch : batch.filter((b) => Date.parse(b.line.ts) >= since);
    if (shown.length === 0) return;
    output.out(shown.map((b) => (flags.json ? b.text : rowOf(b.line, output, cutCells))).join('\n'));
  };

  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  /** Waits for the next poll, or less when stopped meanwhile. */
  const nextPoll = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, POLL_MS);
      function done(): void {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  const onSignal = () => stop();
  // A reader that went away (`calls | head`): nothing more to say.
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.on('error', onStdoutError);
  try {
    for (;;) {
      // Everything there is now, a batch at a time.
      for (let batch = await follower.read(BATCH); batch.length > 0 && !stopped; batch = await follower.read(BATCH)) print(batch);
      if (!flags.follow || stopped) break;
      await nextPoll();
      if (stopped) break;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await follower.close();
    process.stdout.off('error', onStdoutError);
  }
  return 0;
}
