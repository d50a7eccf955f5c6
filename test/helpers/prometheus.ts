/**
 * Prometheus' own programs for the alerting tests: `promtool`, and a real `prometheus` server
 * (Debian's package, which .ci/run installs) in a temporary directory of its own, scraping the
 * API and evaluating the rules of alerts/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './everything-http.js';
import { waitFor } from './wait-for.js';

/**
 * The path of `name` on PATH. Throws, naming what to install, when it is absent: the alerting
 * tests fail then rather than skip, so that a machine without Prometheus cannot pass them.
 */
export function findTool(name: 'promtool' | 'prometheus'): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not in this directory (ENOENT) or not executable there: look on.
    }
  }
  throw new Error(`${name} not found on PATH (${process.env.PATH ?? ''}): the alerting tests need Prometheus' ${name}; install Debian's prometheus package (apt-get install prometheus), as .ci/run does`);
}

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `promtool` with `args` from `cwd` to completion (killed after 30 s). */
export function runPromtool(args: string[], cwd: string): Promise<ToolRun> {
  const child = spawn(findTool('promtool'), args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface PrometheusOptions {
  /**
   * prometheus.yml, as a function of the temporary directory where {@link files} are (the
   * config names them there: `rule_files`, a `credentials_file`).
   */
  config: (dir: string) => string;
  /** Files for the config to name: name in the temporary directory → contents (mode 0600). */
  files?: Record<string, string>;
}

/** Bind attempts before giving up: another process may take a free port before Prometheus does. */
const BIND_ATTEMPTS = 5;

/**
 * One real Prometheus on 127.0.0.1, with its config, rules and TSDB in a temporary directory
 * that {@link close} removes.
 *
 * Its port: Prometheus 2.42 logs the port it bound for `--web.listen-address=…:0`, but not every
 * version does, and reading a port from a log is fragile. So a port free a moment ago is given
 * to it; if another process took it meanwhile, Prometheus exits ("address already in use") and
 * the next attempt takes another one.
 */
export class PrometheusServer {
  #dir: string | undefined;
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #log = '';
  #url: string | undefined;
  #started = false;
  #startPromise: Promise<void> | undefined;
  #closePromise: Promise<void> | undefined;

  /** `http://127.0.0.1:<port>` once started. */
  get url(): string {
    if (!this.#url) throw new Error('Prometheus is not started');
    return this.#url;
  }

  /** Its log (stderr) so far. */
  get log(): string {
    return this.#log;
  }

  start(options: PrometheusOptions): Promise<void> {
    if (this.#started) throw new Error('PrometheusServer.start() called twice');
    this.#started = true;
    this.#startPromise = this.#start(options);
    return this.#startPromise;
  }

  async #start(options: PrometheusOptions): Promise<void> {
    const bin = findTool('prometheus');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mcp-monitor-prometheus-'));
    this.#dir = dir;
    this.#checkOpen();
    for (const [name, text] of Object.entries(options.files ?? {})) await writeFile(path.join(dir, name), text, { mode: 0o600 });
    const configFile = path.join(dir, 'prometheus.yml');
    await writeFile(configFile, options.config(dir));

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      this.#checkOpen();
      const bound = await this.#spawn(bin, configFile, port);
      this.#checkOpen();
      if (bound) {
        this.#url = `http://127.0.0.1:${port}`;
        break;
      }
      if (!/address already in use/.test(this.#log) || attempt === BIND_ATTEMPTS) {
        throw new Error(`prometheus did not start (attempt ${attempt}, port ${port}): ${this.#log.split('\n').slice(-8).join('\n')}`);
      }
    }
    // Ready: the TSDB is open and the config (with the rules) loaded.
    await waitFor(async () => this.#closePromise !== undefined || (await fetch(`${this.url}/-/ready`)).status === 200, { timeout: 15_000, what: `prometheus ready at ${this.url}` });
    this.#checkOpen();
  }

  /** Throws once {@link close} was called (a test that timed out closes while it starts). */
  #checkOpen(): void {
    if (this.#closePromise) throw new Error('PrometheusServer closed while starting');
  }

  /** Spawns Prometheus on `port`; true once it is ready to serve, false when it exited first. */
  async #spawn(bin: string, configFile: string, port: number): Promise<boolean> {
    this.#log = '';
    const child = spawn(bin, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(this.#dir!, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    let failed: Error | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      // Not spawned at all (EACCES, say): no 'exit' follows.
      child.once('error', (err) => {
        failed = err;
        resolve();
      });
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.#log += d));
    const gone = () => failed !== undefined || child.exitCode !== null || child.signalCode !== null;
    // The line Prometheus logs once it listens and has loaded its config; a failed bind exits before.
    try {
      await waitFor(() => gone() || this.#log.includes('Server is ready to receive web requests'), { timeout: 20_000, what: `prometheus on port ${port}` });
    } catch (err) {
      throw new Error(`${(err as Error).message}; its log: ${this.#log.slice(-1000)}`);
    }
    if (failed) throw new Error(`cannot run ${bin}: ${failed.message}`);
    if (!gone()) return true;
    await this.#exited;
    this.#child = undefined;
    return false;
  }

  /** GET `/api/v1/<p>` and its `data`; throws on an error status. */
  async api<T = any>(p: string): Promise<T> {
    const res = await fetch(`${this.url}/api/v1/${p}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (res.status !== 200 || body.status !== 'success') throw new Error(`GET /api/v1/${p}: ${res.status} ${body.error ?? ''}`);
    return body.data;
  }

  /** Stops Prometheus (SIGTERM, SIGKILL after 5 s) and removes its directory. Safe to call again. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      await this.#stopChild();
      // A start() under way when close() was called stops at its next step (#checkOpen); one
      // that spawned meanwhile has its child stopped here too.
      await this.#startPromise?.catch(() => undefined);
      await this.#stopChild();
      if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
    })();
    return this.#closePromise;
  }

  async #stopChild(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.#exited;
    clearTimeout(t);
  }
}
