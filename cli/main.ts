/**
 * `mcp-monitor` commands that work on the state directory (tail, inspect, status, end-session, calls)
 * and the help.
 * `start`, `watch`, `server` and `wrap` are dispatched by bin/mcp-monitor.js to api/ and server/.
 */
import { UsageError } from '../shared/settings.js';

const USAGE = `Usage: mcp-monitor <command> [options]

Commands:
  start     the API: spawns and supervises the MCP server (or several: --config), serves REST, SSE and the dashboard
  watch     the API and dashboard over every server in the state directory, spawning nothing
  server    one MCP server on its own; publishes its connections in the state directory
  wrap [options] -- CMD [ARG…]
            run the stdio MCP server CMD for the client that launched this, relay it unchanged and publish that connection
  tail      follow the state directory and print connection events as they happen
  inspect   validate persisted snapshots offline and show who is (or was) connected
  status    one line per server in the state directory
  end-session SESSION_ID
            end one session of a running server (through its control directory)
  calls     print the calls journal of a server: one line per request a client made (--follow, --json)

Run 'mcp-monitor <command> --help' for the options of a command.
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  tail: async () => (await import('./commands/tail.js')).default,
  inspect: async () => (await import('./commands/inspect.js')).default,
  status: async () => (await import('./commands/status.js')).default,
  'end-session': async () => (await import('./commands/end-session.js')).default,
  calls: async () => (await import('./commands/calls.js')).default,
};

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    process.exitCode = command === undefined ? 2 : 0;
    return;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write('mcp-monitor 0.1.0\n');
    return;
  }
  const load = COMMANDS[command];
  if (!load) {
    process.stderr.write(`mcp-monitor: unknown command ${JSON.stringify(command)} (try 'mcp-monitor --help')\n`);
    process.exitCode = 2;
    return;
  }
  try {
    process.exitCode = await (await load())(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`mcp-monitor ${command}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    // A file system error the command did not expect (EACCES, EIO…): one line, not a stack.
    if (typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall) {
      process.stderr.write(`mcp-monitor ${command}: ${(err as Error).message}\n`);
      process.exitCode = 4;
      return;
    }
    throw err;
  }
}
