/**
 * `mcp-monitor wrap [--server-id ID] [--state-dir DIR] [--heartbeat-ms N] -- CMD [ARG…]`: a
 * transparent stdio tap that an MCP client launches in place of a stdio server. The relay comes
 * first: CMD is started and joined to our pipes (server/backends/wrap/wrap-relay.ts) before
 * anything is published, and nothing that goes wrong with publishing changes or stops it (one
 * line on stderr, then the relay goes on unmonitored). Then the publishing, the same wiring as
 * `mcp-monitor server` (server/writer-run.ts) with the wrap backend, under the first free id of
 * CMD's name (server/backends/wrap/claim-server-id.ts), in the per-user state directory unless
 * told otherwise (never the current directory: the client chose it). The wrapper exits with
 * CMD's status. Its log goes to `<state>/<serverId>/wrap.log`, never to stdout or stderr.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import pino from 'pino';
import { parseLogLevel } from '../shared/log-level.js';
import { serverDir } from '../shared/paths.js';
import { parseCommand, settingsHelp, UsageError, type SettingKey } from '../shared/settings.js';
import { ensureStateDir } from '../shared/io/state-dir.js';
import { userStateDir } from '../shared/user-state-dir.js';
import { joinCommandLine } from '../shared/command-line.js';
import { RequestObservers } from './operations/finished-request.js';
import { OperationRecorder } from './operations/operation-recorder.js';
import { ToolCatalog } from './operations/tool-catalog.js';
import { SessionRegistry } from './sessions/session-registry.js';
import { claimServerId } from './backends/wrap/claim-server-id.js';
import { launchedBy } from './backends/wrap/launched-by.js';
import { splitWrapArgv } from './backends/wrap/wrap-argv.js';
import { WrapBackend } from './backends/wrap/wrap-backend.js';
import { WrapLogFile, WRAP_LOG_FILE, WRAP_LOG_OLD_FILE } from './backends/wrap/wrap-log-file.js';
import { CommandStartError, WrapRelay, type RelayExit } from './backends/wrap/wrap-relay.js';
import { wrapServerId } from './backends/wrap/wrap-server-id.js';
import { WrapTap } from './backends/wrap/wrap-tap.js';
import { runWriter, WriterStartError, type WriterRun } from './writer-run.js';

export const WRAP_SETTINGS = ['serverId', 'stateDir', 'heartbeatMs', 'journalMaxBytes', 'journalFiles', 'calls', 'callsMaxBytes', 'callsFiles'] as const satisfies readonly SettingKey[];

const EXIT_USAGE = 2;
/** The signals passed on to CMD. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function say(message: string): void {
  process.stderr.write(`mcp-monitor wrap: ${message}\n`);
}

function usage(cwd: string, stateDir: string): string {
  const help = settingsHelp(WRAP_SETTINGS, cwd)
    .replace('(default ./state)', `(default ${stateDir})`)
    .replace('(default default)', '(default: from CMD, e.g. server-filesystem; -2, -3 … when a live writer holds it)');
  return `Usage: mcp-monitor wrap [options] -- CMD [ARG…]\n\nRuns the stdio MCP server CMD, relays the client's stdin and stdout to it unchanged, and publishes that connection in the state directory.\n\n${help}\n`;
}

export async function main(argv: string[]): Promise<void> {
  // A client that closed our stderr must not take the relay down with an EPIPE: the line is lost.
  process.stderr.on('error', () => undefined);
  const cwd = process.cwd();
  let parsed;
  let command: string[];
  try {
    const split = splitWrapArgv(argv, WRAP_SETTINGS);
    command = split.command;
    parsed = parseCommand('wrap', split.options, process.env, WRAP_SETTINGS, { cwd });
    if (parsed.flags.help) {
      process.stdout.write(usage(cwd, userStateDir(process.env)));
      return;
    }
    if (command.length === 0) throw new UsageError("no command to run: mcp-monitor wrap [options] -- CMD [ARG…] (see 'mcp-monitor wrap --help')");
    parseLogLevel(process.env.MCP_MONITOR_LOG_LEVEL);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    say(err.message);
    process.exitCode = EXIT_USAGE;
    return;
  }
  const s = parsed.settings;
  // wrap never publishes into the current directory: a client chose it, not the user.
  const stateDir = parsed.sources.stateDir === 'default' ? userStateDir(process.env) : s.stateDir;
  const baseId = parsed.sources.serverId === 'default' ? wrapServerId(command) : s.serverId;
  const startedAt = new Date();
  const sessionId = randomUUID();
  const registry = new SessionRegistry();
  // The log queues its lines until its file is known (the server id is chosen after CMD started).
  const logFile = new WrapLogFile();
  const rootLog = pino({ name: 'mcp-monitor:wrap', level: parseLogLevel(process.env.MCP_MONITOR_LOG_LEVEL), base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, logFile);
  // The tap tells of requests from CMD's start, before the writer is built: the writer's own
  // observers (the catalog among them) are added to this fan-out by runWriter (server/writer-run.ts).
  const catalog = new ToolCatalog();
  const recorder = new OperationRecorder({ knownName: catalog.knownName });
  const requests = new RequestObservers((err) => rootLog.error({ err }, 'a request observer failed; request not recorded by it')).add(recorder);
  const tap = new WrapTap({ requests, sessionId });
  const relay = new WrapRelay(command);
  relay.on('client', (chunk) => tap.client(chunk));
  relay.on('server', (chunk) => tap.server(chunk));
  const onSignal = (signal: NodeJS.Signals) => relay.forward(signal);
  for (const sig of FORWARDED) process.on(sig, onSignal);
  const done = (status: number) => {
    for (const sig of FORWARDED) process.off(sig, onSignal);
    process.exitCode = status;
  };

  try {
    await relay.start();
  } catch (err) {
    if (!(err instanceof CommandStartError)) throw err;
    say(err.message);
    process.stdin.destroy();
    return done(err.status);
  }

  // The relay runs: from here on, publishing is a bonus that never gets in its way.
  const aborted = new AbortController();
  let backend: WrapBackend | undefined;
  // stderr is CMD's: the wrapper adds at most one line of its own there.
  let told = false;
  const tellOnce = (line: string) => {
    if (told || aborted.signal.aborted) return;
    told = true;
    say(line);
  };
  let off = false;
  const monitoringOff = (why: string) => {
    if (off) return;
    off = true;
    rootLog.error({ why }, 'monitoring off; relaying all the same');
    tellOnce(`monitoring off (${why}); relaying ${command[0]} all the same`);
  };

  const monitoring = (async (): Promise<WriterRun | undefined> => {
    try {
      await ensureStateDir(stateDir);
      const claimed = await claimServerId({ stateDir, base: baseId, logger: rootLog, signal: aborted.signal });
      if (!claimed) return undefined;
      const { serverId, lock } = claimed;
      const dir = serverDir(stateDir, serverId);
      await logFile.open(path.join(dir, WRAP_LOG_FILE), path.join(dir, WRAP_LOG_OLD_FILE)).catch((err: Error) => tellOnce(`no log file in ${dir} (${err.message}); publishing without it`));
      const log = rootLog.child({ serverId });
      log.info({ command: joinCommandLine(command), cmdPid: relay.pid, stateDir, sessionId }, 'wrapping');
      backend = new WrapBackend({ argv: command, relay, tap, sessionId, startedAt, launchedBy: launchedBy(), refreshMs: s.heartbeatMs, logger: log });
      const run = runWriter({
        settings: { ...s, stateDir, serverId },
        registry,
        backend,
        // A stdio front binds nothing and holds one connection.
        endpoint: { host: '', port: 0, maxSessions: 1, sessionIdleMs: 0, trustProxy: false },
        log,
        lock,
        recorder,
        requests,
        catalog,
        startedAt,
        onLockLost: () => monitoringOff(`another writer took over server id ${serverId}`),
      });
      await run.start();
      return run;
    } catch (err) {
      monitoringOff(err instanceof UsageError || err instanceof WriterStartError ? err.message : (err as Error).message);
      return undefined;
    }
  })();

  const exit: RelayExit = await relay.finished;
  // Publishing that is still starting gives up (a lock awaited); one that runs records the end.
  aborted.abort();
  const run = await monitoring;
  if (run && !run.stopping) {
    backend?.front?.end(exit.reason);
    await run.shutdown(`relay ended (${exit.reason})`);
  }
  rootLog.info({ reason: exit.reason, code: exit.code, signal: exit.signal, status: exit.status }, 'wrapped server exited');
  await logFile.close();
  done(exit.status);
}
