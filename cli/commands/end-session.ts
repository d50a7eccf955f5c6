/**
 * `mcp-monitor end-session SESSION_ID`: asks the live writer of a server to end one of its
 * sessions, through its control directory (see shared/control-request.ts), with or without the API.
 * Exit 3 at once when no writer of the server is live, 4 at once when the session is not in its
 * snapshot (or is a sessionless client); else the request is written and the session awaited out of
 * the snapshot for up to 5 s: 0 ended, 4 not ended in time (the request is then withdrawn).
 */
import os from 'node:os';
import { unlink } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { isControlSessionId, SESSION_ID_MAX } from '../../shared/control-request.js';
import { NoControlDir, writeControlRequest } from '../../shared/io/write-control-request.js';
import { errnoPhrase } from '../../shared/errno.js';
import { snapshotPath } from '../../shared/paths.js';
import { readSnapshotFile } from '../../shared/io/read-snapshot.js';
import { judgeServerState } from '../../shared/io/server-state.js';
import { parseCommand, settingsHelp, UsageError } from '../../shared/settings.js';
import type { Snapshot } from '../../shared/snapshot.js';
import { StateFileError } from '../../shared/state-file-error.js';
import { formatDuration } from '../../shared/verdict.js';
import { processOutput, type Output } from '../output.js';

const KEYS = ['stateDir', 'serverId'] as const;

/** How long the session is awaited out of the snapshot (then exit 4). */
const WAIT_MS = 5000;
/** How often the snapshot is read meanwhile. */
const POLL_MS = 50;

const HELP = (cwd: string) => `Usage: mcp-monitor end-session SESSION_ID [options]

Ends one session of a running MCP server: writes a request into its control directory
(<state-dir>/<server-id>/control/), which the server picks up within a second; the session
ends with reason "terminated" (journal: by "cli:<user>") and its client's next request gets
404. Works with or without the API. Waits up to 5 s for the session to leave the snapshot.

${settingsHelp(KEYS, cwd)}

Exit codes: 0 the session ended; 2 bad usage; 3 no writer of that server is running
(stopped, died, or never started); 4 no such session in its snapshot (or a sessionless
client: nothing to end), the snapshot cannot be read, or the session was not ended in time.
`;

/** `cli:<user name>`, printable and bounded as a request's `by` must be. */
function requester(): string {
  let name: string;
  try {
    name = os.userInfo().username;
  } catch {
    // No passwd entry for this uid (a container's user): the uid names it.
    name = `uid-${process.getuid?.() ?? 'unknown'}`;
  }
  return `cli:${name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 120) || '?'}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The snapshot of the live writer of `serverId`, or the exit code after saying why there is none. */
async function liveSnapshot(file: string, serverId: string, stateDir: string, output: Output): Promise<Snapshot | 3 | 4> {
  let snap: Snapshot;
  try {
    snap = await readSnapshotFile(file);
  } catch (err) {
    if (!(err instanceof StateFileError)) throw err;
    if (err.code === 'ENOENT') {
      output.warn(`no server ${JSON.stringify(serverId)} in ${stateDir} (no ${file}): nothing is running there`);
      return 3;
    }
    output.warn(err.message);
    return 4;
  }
  const state = await judgeServerState(file, snap);
  if (state.verdict.state === 'running') return snap;
  if (state.verdict.state === 'stopped') output.warn(`server ${JSON.stringify(serverId)} is not running (stopped cleanly at ${snap.writtenAt})`);
  else output.warn(`server ${JSON.stringify(serverId)} is not running: its writer pid ${snap.pid} is ${state.verdict.state} (${state.verdict.why.join('; ')})`);
  return 3;
}

export default async function endSession(argv: string[]): Promise<number> {
  const cwd = process.cwd();
  const { settings, flags, positionals } = parseCommand('end-session', argv, process.env, KEYS, { maxPositionals: 1, cwd });
  if (flags.help) {
    process.stdout.write(HELP(cwd));
    return 0;
  }
  const sessionId = positionals[0];
  if (sessionId === undefined) throw new UsageError(`missing SESSION_ID (see 'mcp-monitor end-session --help')`);
  if (!isControlSessionId(sessionId)) {
    throw new UsageError(`Invalid SESSION_ID: ${JSON.stringify(sessionId.slice(0, 80))} (1-${SESSION_ID_MAX} printable characters)`);
  }
  const { stateDir, serverId } = settings;
  const output = processOutput('end-session');
  const file = snapshotPath(stateDir, serverId);
  const snap = await liveSnapshot(file, serverId, stateDir, output);
  if (typeof snap === 'number') return snap;
  const c = snap.connections.find((x) => x.sessionId === sessionId);
  if (!c) {
    output.warn(`no session ${JSON.stringify(sessionId)} in server ${JSON.stringify(serverId)} (${snap.activeConnections} connected; see 'mcp-monitor inspect')`);
    return 4;
  }
  // A modern client over a `wrap` pipe has something to end: its server's process.
  if (c.era === 'modern' && c.transport !== 'stdio') {
    output.warn(`${JSON.stringify(sessionId)} is a sessionless client (protocol 2026-07-28 on): there is no session to end`);
    return 4;
  }
  let request: string;
  try {
    request = await writeControlRequest(stateDir, serverId, { action: 'end-session', sessionId, requestedAt: new Date().toISOString(), by: requester() });
  } catch (err) {
    if (err instanceof NoControlDir) output.warn(`the writer of server ${JSON.stringify(serverId)} (pid ${snap.pid}) takes no requests: ${err.message}`);
    else output.warn(`cannot write a request into the control directory of ${JSON.stringify(serverId)}: ${errnoPhrase(err)}`);
    return 4;
  }
  // Monotonic: a clock step neither cuts the wait short nor makes it endless.
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    const now = await readSnapshotFile(file).catch((err: unknown) => {
      // Replaced atomically: a failed read is not a partial file but a real trouble; try again until the deadline.
      if (err instanceof StateFileError) return undefined;
      throw err;
    });
    if (now && !now.connections.some((x) => x.sessionId === sessionId)) {
      const how = now.pid !== snap.pid || now.status !== 'running' ? ` (server ${JSON.stringify(serverId)} is ${now.status} meanwhile)` : '';
      output.out(`ended session ${sessionId} of server ${serverId}${how}`);
      return 0;
    }
    if (performance.now() >= deadline) break;
    await sleep(POLL_MS);
  }
  // Withdrawn, so that "not ended" stays true (unless the writer is reading it right now).
  await unlink(request).catch((err: NodeJS.ErrnoException) => {
    // ENOENT: the writer took it meanwhile.
    if (err.code !== 'ENOENT') throw err;
  });
  output.warn(`session ${JSON.stringify(sessionId)} of server ${JSON.stringify(serverId)} was not ended within ${formatDuration(WAIT_MS)} (is its writer pid ${snap.pid} hung?); request withdrawn`);
  return 4;
}
