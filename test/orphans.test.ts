/**
 * No orphans: a child whose API dies goes too, even when the API dies while the
 * child is still starting (before its code listens to the IPC channel, or before it runs at
 * all). The parent here is a real process that spawns `mcp-monitor server` the way the API does
 * (an IPC channel, the API's marker in the environment) and exits at once.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { SUPERVISED_ENV } from '../shared/settings.js';
import { BIN, cleanup, isAlive, makeStateDir } from './helpers/processes.js';
import { waitFor } from './helpers/wait-for.js';

const pids: number[] = [];
afterEach(async () => {
  for (const pid of pids.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  await cleanup();
});

/** Spawns a parent that starts a child server as the API would, prints its pid and exits after `exitAfterMs`. */
async function orphanedChild(stateDir: string, exitAfterMs: number): Promise<number> {
  const script = `
    const { spawn } = require('node:child_process');
    const child = spawn(process.execPath, [${JSON.stringify(BIN)}, 'server', '--mcp-port', '0', '--state-dir', ${JSON.stringify(stateDir)}],
      { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: { ...process.env, ${SUPERVISED_ENV}: '1' }, detached: true });
    child.unref();
    child.channel.unref();
    process.stdout.write(String(child.pid));
    setTimeout(() => process.exit(0), ${exitAfterMs});`;
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  parent.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => parent.once('exit', resolve));
  const pid = Number(out);
  pids.push(pid);
  return pid;
}

describe('a child whose API dies', () => {
  for (const exitAfterMs of [0, 150]) {
    it(`exits when the API dies ${exitAfterMs} ms after spawning it (while it starts)`, async () => {
      const pid = await orphanedChild(await makeStateDir(), exitAfterMs);
      expect(pid).toBeGreaterThan(0);
      await waitFor(() => !isAlive(pid), { timeout: 20_000, what: `the orphaned child ${pid} to exit` });
    });
  }
});
