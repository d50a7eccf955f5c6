/**
 * Spawning one supervised child: never through a shell, stdout and stderr piped, and an IPC
 * channel as a lifeline (the child notices when the API is gone). Every way a process can end,
 * or fail to begin, is reported once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';

/** Called exactly once per child: it exited, or could not be spawned (`spawnError`, no pid). */
export type ChildEnded = (child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => void;

/**
 * Spawns `command` with `args`; `exited` resolves after `ended` has run. Throws as `spawn()`
 * does for errors it reports synchronously (E2BIG, bad arguments).
 */
export function spawnChild(command: string, args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd: string | undefined }, log: Logger, ended: ChildEnded): { child: ChildProcess; exited: Promise<void> } {
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const exited = new Promise<void>((resolve) => {
    let done = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (done) return;
      done = true;
      ended(child, code, signal, spawnError);
      resolve();
    };
    child.once('exit', (code, signal) => end(code, signal));
    // A spawn that fails at run time (ENOENT, EACCES, EAGAIN) emits 'error' and 'close' but no
    // 'exit'; 'close' also covers any other way the process ends.
    child.once('close', (code, signal) => end(code, signal));
    child.on('error', (err) => {
      if (child.pid === undefined) return end(null, null, err);
      // With a pid, 'error' is a failed kill() or IPC send: the process runs on, 'exit' follows.
      log.warn({ pid: child.pid, err: err.message }, 'MCP child process error');
    });
  });
  return { child, exited };
}
