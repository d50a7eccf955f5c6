/** server-everything (npm) in Streamable HTTP mode on a fixed port: the soak's upstream, which a fault kills and starts again. */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { waitUntil } from '../lib/clock.js';
import { ROOT, spawnNode } from '../lib/procs.js';

const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

/** The upstream on `port`, started and killed on demand. */
export class Upstream {
  readonly port: number;
  #child: ChildProcess | undefined;

  constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/mcp`;
  }

  async start(): Promise<void> {
    const child = spawnNode([EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(this.port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    await waitUntil(() => err.includes(`listening on port ${this.port}`) || child.exitCode !== null, 20_000, `server-everything on ${this.port}`, 20);
    if (child.exitCode !== null) throw new Error(`soak: server-everything did not start: ${err.slice(-300)}`);
    this.#child = child;
  }

  /** SIGKILL, as an upstream that crashed; resolves when it has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}
