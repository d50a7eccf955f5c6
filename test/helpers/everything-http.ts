/**
 * server-everything (from npm) in its Streamable HTTP mode, a real third-party MCP server to put
 * behind `--upstream`; tracked so that tests stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from './processes.js';
import { waitFor } from './wait-for.js';

export const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

const running = new Set<ChildProcess>();

/** A port free now (to start, stop and start again an upstream on the same one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface EverythingHttp {
  port: number;
  /** Its MCP endpoint. */
  url: string;
  pid: number;
  /** Ends it (SIGKILL: as an upstream that crashed) and waits until it has exited. */
  kill: () => Promise<void>;
}

/** Starts server-everything's `streamableHttp` mode on `port` (a free one by default). */
export async function startEverythingHttp(port?: number): Promise<EverythingHttp> {
  const p = port ?? (await freePort());
  const child = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(p) }, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => err.includes(`listening on port ${p}`) || child.exitCode !== null, { what: `server-everything on port ${p}`, timeout: 20_000 });
  if (child.exitCode !== null) throw new Error(`server-everything did not start: ${err}`);
  return {
    port: p,
    url: `http://127.0.0.1:${p}/mcp`,
    pid: child.pid!,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
      running.delete(child);
    },
  };
}

/** Stops every server-everything a test started. */
export async function stopEverythingHttp(): Promise<void> {
  await Promise.all([...running].map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill('SIGKILL');
  })));
  running.clear();
}
