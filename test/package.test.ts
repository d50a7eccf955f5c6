/**
 * The package installs as a command: the tarball of `npm pack`, installed with
 * `npm install --prefix` (no dev dependencies, nothing but Node), holds what it should and
 * nothing else, and its `mcp-monitor` runs the commands.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Installed, cleanupPacked, importsOf, packAndInstall, packageOf, runInstalled, tempDir, type PackedInstall } from './helpers/packed-package.js';
import { ROOT } from './helpers/processes.js';
import { readSnap, waitSnap } from './helpers/server-process.js';
import { waitFor } from './helpers/wait-for.js';

let pkg: PackedInstall;
let manifest: { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };

beforeAll(async () => {
  pkg = await packAndInstall();
  manifest = JSON.parse(await readFile(path.join(pkg.packageDir, 'package.json'), 'utf8'));
  console.info(`package.test: npm pack ${Math.round(pkg.packMs)} ms, npm install ${Math.round(pkg.installMs)} ms (${pkg.files.length} files)`);
}, 180_000);

afterAll(cleanupPacked);

/** Files under `dir` (relative to it, `/`-separated) that `keep` accepts. */
async function walk(dir: string, keep: (rel: string) => boolean): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .filter(keep)
    .sort();
}

describe('the tarball', () => {
  it('holds the built code, the dashboard, the alerting rules, the command, README and LICENSE; no tests, benches, sources or maps', async () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/mcp-monitor.js', 'dist/api/main.js', 'dist/server/main.js', 'dist/cli/main.js', 'api/public/index.html', 'alerts/mcp-monitor.rules.yml']) {
      expect(pkg.files).toContain(f);
    }
    // Every file of the dashboard, and exactly the JavaScript that `npm run build` wrote.
    const dashboard = (await walk(path.join(ROOT, 'api/public'), () => true)).map((f) => `api/public/${f}`);
    expect(pkg.files.filter((f) => f.startsWith('api/'))).toEqual(dashboard);
    const built = (await walk(path.join(ROOT, 'dist'), (f) => /^(api|cli|server|shared)\/.*\.js$/.test(f))).map((f) => `dist/${f}`);
    expect(built.length).toBeGreaterThan(50);
    expect(pkg.files.filter((f) => f.startsWith('dist/'))).toEqual(built);

    const outside = pkg.files.filter((f) => !/^(bin\/|dist\/|api\/public\/|alerts\/[^/]+\.rules\.yml$|docs\/[^/]+\.md$)/.test(f) && !['package.json', 'README.md', 'LICENSE'].includes(f));
    expect(outside).toEqual([]);
    expect(pkg.files.filter((f) => /\.(ts|map)$/.test(f) || /(^|\/)(test|bench|\.bench|scripts|state)\//.test(f))).toEqual([]);

    expect(manifest).toMatchObject({ license: 'MIT' });
    expect(await readFile(path.join(pkg.packageDir, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} mcp-monitor contributors\n/);
  });

  it('imports only Node built-ins, its own files and its dependencies; the install brings no dev-only package', async () => {
    const shipped = new Set(pkg.files);
    const builtins = new Set(builtinModules);
    const wrong: string[] = [];
    const used = new Set<string>();
    for (const file of pkg.files.filter((f) => f.endsWith('.js') && !f.startsWith('api/public/'))) {
      for (const spec of await importsOf(path.join(pkg.packageDir, file))) {
        if (spec.startsWith('.')) {
          const target = path.posix.join(path.posix.dirname(file), spec);
          if (!shipped.has(target)) wrong.push(`${file}: ${spec} (not in the tarball)`);
        } else if (spec.startsWith('node:') || builtins.has(spec)) {
          continue;
        } else if (!(packageOf(spec) in manifest.dependencies)) {
          wrong.push(`${file}: ${spec} (not a dependency)`);
        } else {
          used.add(packageOf(spec));
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(used.size).toBeGreaterThan(5);

    // A dev dependency may be in the tree only as what a runtime package depends on itself
    // (@types/node comes with socket.io, for one); typescript, vitest, playwright never.
    const lock = JSON.parse(await readFile(path.join(pkg.prefix, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }> };
    const wanted = new Set(Object.values(lock.packages).flatMap((p) => Object.keys({ ...p.dependencies, ...p.peerDependencies, ...p.optionalDependencies })));
    const devOnly = Object.keys(manifest.devDependencies).filter((d) => existsSync(path.join(pkg.prefix, 'node_modules', d)) && !wanted.has(d));
    expect(devOnly).toEqual([]);
    for (const d of ['typescript', 'vitest', 'playwright-core']) expect(existsSync(path.join(pkg.prefix, 'node_modules', d))).toBe(false);
  });
});

describe('the installed mcp-monitor', () => {
  it('status on an empty state directory: exit 4, one line naming the directory, nothing on stdout', async () => {
    const empty = await tempDir('empty-state');
    const r = await runInstalled(pkg.bin, ['status', '--state-dir', empty]);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(empty);
  });

  it('--help of every command it lists exits 0 with its usage; --version is the package version', async () => {
    const top = await runInstalled(pkg.bin, ['--help']);
    expect(top.code).toBe(0);
    const commands = [...top.stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!);
    expect(commands).toEqual(expect.arrayContaining(['start', 'server', 'tail', 'inspect', 'status', 'end-session']));
    for (const command of commands) {
      const r = await runInstalled(pkg.bin, [command, '--help']);
      expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^Usage: mcp-monitor ${command}\\b`));
    }
    const v = await runInstalled(pkg.bin, ['--version']);
    expect(v.stdout.trim()).toBe(`mcp-monitor ${manifest.version}`);
  });

  it('server serves MCP, watch lists it as external, and on SIGTERM server exits 0 leaving a stopped snapshot', async () => {
    const stateDir = await tempDir('server-state');
    const p = new Installed(pkg.bin, ['server', '--mcp-port', '0', '--heartbeat-ms', '1000', '--state-dir', stateDir]);
    const snap = await waitSnap(stateDir, (s) => s.status === 'running' && s.pid === p.child.pid, `the installed server running (${p.stderr.slice(-300)})`, 'default', 20_000);

    const client = new Client({ name: 'package-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(snap.mcp!.url)));
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('echo');
    await client.close();

    // watch: the API and the packaged dashboard over it, spawning nothing.
    const w = new Installed(pkg.bin, ['watch', '--port', '0', '--state-dir', stateDir]);
    const url = `http://127.0.0.1:${(await w.waitForLog('API listening')).port as number}`;
    expect((await fetch(`${url}/`)).status).toBe(200);
    const seen = await waitFor(async () => ((await (await fetch(`${url}/api/mcp/servers`)).json()) as { servers: { serverId: string; status: string; pid: number }[] }).servers.find((s) => s.serverId === 'default'), { timeout: 20_000, what: 'watch listing the installed server' });
    expect(seen).toMatchObject({ status: 'external', pid: p.child.pid });
    w.child.kill('SIGTERM');
    expect(await w.exited).toEqual({ code: 0, signal: null });

    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(await readSnap(stateDir)).toMatchObject({ status: 'stopped', pid: p.child.pid, activeConnections: 0 });
  });

  it('start serves the dashboard from the package and supervises its child; SIGTERM ends both', async () => {
    const stateDir = await tempDir('start-state');
    const p = new Installed(pkg.bin, ['start', '--port', '0', '--mcp-port', '0', '--heartbeat-ms', '500', '--state-dir', stateDir]);
    const url = `http://127.0.0.1:${(await p.waitForLog('API listening')).port as number}`;

    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe(await readFile(path.join(pkg.packageDir, 'api/public/index.html'), 'utf8'));
    const server = await waitFor(async () => {
      const body = (await (await fetch(`${url}/api/mcp/servers`)).json()) as { servers: { serverId: string; status: string; pid: number }[] };
      return body.servers.find((s) => s.serverId === 'default' && s.status === 'running');
    }, { timeout: 20_000, what: 'the child of the installed start running' });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(await readSnap(stateDir)).toMatchObject({ status: 'stopped', pid: server.pid });
  });

  it('wrap relays a stdio program byte for byte, exits with its status and publishes it', async () => {
    const stateDir = await tempDir('wrap-state');
    const p = new Installed(pkg.bin, ['wrap', '--server-id', 'echo', '--state-dir', stateDir, '--', process.execPath, '-e', 'process.stdin.pipe(process.stdout)'], { stdin: 'pipe' });
    const sent = `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'package-test', version: '1.0.0' } } })}\nnot json\n`;
    await waitSnap(stateDir, (s) => s.status === 'running', `the installed wrap publishing (${p.stderr.slice(-300)})`, 'echo', 20_000);
    p.child.stdin!.end(sent);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.stdout).toBe(sent);
    expect(p.stderr).toBe('');
    expect(await readSnap(stateDir, 'echo')).toMatchObject({ status: 'stopped', backend: { kind: 'wrap' } });
  });
});
