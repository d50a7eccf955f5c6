/**
 * The package as a user gets it: `npm pack` of this repository into a temporary directory, then
 * `npm install --prefix` of that tarball into another one (no dev dependencies), and the
 * installed `mcp-monitor` command run as a user's shell runs it: the `.bin` link, through its
 * `#!/usr/bin/env node` line.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import ts from 'typescript';
import { ROOT } from './processes.js';
import { waitFor } from './wait-for.js';

const exec = promisify(execFile);

/**
 * The Node that runs the tests first on PATH: the installed command's `#!/usr/bin/env node`, and
 * npm's own, then run on it (`.ci/run` runs the suite on Node 20 and on Node 24).
 */
const PATH = [path.dirname(process.execPath), process.env.PATH].join(path.delimiter);

export interface PackedInstall {
  /** The tarball `npm pack` wrote. */
  tarball: string;
  /** Paths inside the tarball, without the leading `package/`, sorted. */
  files: string[];
  /** The `--prefix` directory it was installed into. */
  prefix: string;
  /** `<prefix>/node_modules/mcp-monitor`: the installed package. */
  packageDir: string;
  /** `<prefix>/node_modules/.bin/mcp-monitor`. */
  bin: string;
  packMs: number;
  installMs: number;
}

const dirs = new Set<string>();

async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `mcp-monitor-${name}-`));
  dirs.add(dir);
  return dir;
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await exec('npm', args, { cwd, env: { ...process.env, PATH }, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/**
 * Packs the repository and installs the tarball. `npm pack --ignore-scripts`: the prepack
 * script would rebuild dist/ under the other test files that run from it at the same time;
 * `npm test` built it just before (its pretest script).
 */
export async function packAndInstall(): Promise<PackedInstall> {
  const out = await tempDir('pack');
  let t = performance.now();
  const [entry] = JSON.parse(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', out], ROOT)) as [{ filename: string; files: { path: string }[] }];
  const packMs = performance.now() - t;
  const tarball = path.join(out, entry.filename);
  const prefix = await tempDir('prefix');
  t = performance.now();
  await npm(['install', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], prefix);
  const installMs = performance.now() - t;
  return {
    tarball,
    files: entry.files.map((f) => f.path).sort(),
    prefix,
    packageDir: path.join(prefix, 'node_modules', 'mcp-monitor'),
    bin: path.join(prefix, 'node_modules', '.bin', 'mcp-monitor'),
    packMs,
    installMs,
  };
}

/** Every module specifier a compiled file imports: static, re-exports and `import('…')` with a literal. */
export async function importsOf(file: string): Promise<string[]> {
  return ts.preProcessFile(await readFile(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** The npm package a bare specifier names: `@scope/name` or `name`, without a subpath. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** A running installed command, with what it printed so far. */
export class Installed {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(bin: string, args: string[], options: { cwd?: string; stdin?: 'pipe' | 'ignore' } = {}) {
    this.child = spawn(bin, args, { cwd: options.cwd ?? os.tmpdir(), env: { ...process.env, PATH }, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] });
    running.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
  }

  /** The first pino line of stderr whose `msg` is `msg`. */
  waitForLog(msg: string): Promise<Record<string, unknown>> {
    return waitFor(() => this.stderr.split('\n').map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return undefined; } }).find((l) => l?.msg === msg), { timeout: 20_000, what: `log "${msg}" in: ${this.stderr.slice(-400)}` });
  }
}

const running = new Set<Installed>();

/** Runs the installed command to its end (killed after 20 s). */
export async function runInstalled(bin: string, args: string[], options: { cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new Installed(bin, args, options);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout, stderr: p.stderr };
}

/** Kills what is still running (SIGKILL after 5 s) and removes the temporary directories. */
export async function cleanupPacked(): Promise<void> {
  await Promise.all([...running].map(async (p) => {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGTERM');
      const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
    }
    running.delete(p);
  }));
  await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
  dirs.clear();
}

export { tempDir };
