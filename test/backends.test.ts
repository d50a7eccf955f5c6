/**
 * The backend seam (server/backends/): the one place that chooses a backend from the settings,
 * what each publishes as `backend` (never a credential), which eras it serves, and the house
 * rules of its lifecycle (start twice throws, close returns the same promise, close before
 * start leaves nothing running).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { backendFor, EntryError, type Backend } from '../server/backends/index.js';
import { SessionRegistry } from '../server/sessions/session-registry.js';
import { parseCommand } from '../shared/settings.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const KEYS = ['entry', 'upstream', 'command', 'maxSessions', 'trustProxy', 'heartbeatMs'] as const;

function choose(argv: string[]): Promise<Backend> {
  const { settings } = parseCommand('server', argv, {}, KEYS, { cwd: fixtures });
  return backendFor(settings, {
    serverId: 'seam',
    registry: new SessionRegistry(),
    logger: pino({ level: 'silent' }),
    startedAt: new Date(),
    totalConnections: () => 0,
    env: {},
  });
}

describe('backendFor: one choice from the settings', () => {
  it('serves the built-in server when no backend setting is given, in both eras', async () => {
    const b = await choose([]);
    expect(b.published()).toEqual({ kind: 'builtin', target: null });
    expect([...b.eras].sort()).toEqual(['legacy', 'modern']);
    expect(b.processes).toBeUndefined();
    await b.close();
  });

  it('serves an --entry module in the eras of its SDK (v1: legacy only; v2: both)', async () => {
    const v1 = await choose(['--entry', path.join(fixtures, 'entry-server-v1.mjs')]);
    expect(v1.published()).toEqual({ kind: 'entry', target: path.join(fixtures, 'entry-server-v1.mjs') });
    expect([...v1.eras]).toEqual(['legacy']);
    const v2 = await choose(['--entry', path.join(fixtures, 'entry-server-v2.mjs')]);
    expect([...v2.eras].sort()).toEqual(['legacy', 'modern']);
    await expect(choose(['--entry', path.join(fixtures, 'entry-not-a-factory.mjs')])).rejects.toBeInstanceOf(EntryError);
  });

  it('proxies an --upstream URL and publishes it without credentials or query string', async () => {
    const b = await choose(['--upstream', 'https://me:s3cret@mcp.example.com:8443/mcp?api_key=KEY123']);
    const published = b.published();
    expect(published).toMatchObject({ kind: 'upstream', target: 'https://mcp.example.com:8443/mcp' });
    expect(JSON.stringify(published)).not.toMatch(/s3cret|KEY123|api_key/);
    expect([...b.eras].sort()).toEqual(['legacy', 'modern']);
    await b.close();
  });

  it('bridges a --command program in the legacy era only, and lists its processes', async () => {
    const b = await choose(['--command', ` ${process.execPath} ${path.join(fixtures, 'stdio-record.mjs')} `]);
    expect(b.published()).toEqual({ kind: 'command', target: `${process.execPath} ${path.join(fixtures, 'stdio-record.mjs')}` });
    expect([...b.eras]).toEqual(['legacy']);
    expect(b.processes?.list()).toEqual([]);
    await b.close();
  });
});

describe('Backend lifecycle', () => {
  for (const argv of [[], ['--upstream', 'http://127.0.0.1:9/mcp'], ['--command', 'node -e 0']]) {
    it(`${argv[0] ?? 'builtin'}: start twice throws, close returns the same promise`, async () => {
      const b = await choose(argv);
      await b.start({ changed: () => {} });
      await expect(b.start({ changed: () => {} })).rejects.toThrow(/already started/);
      const closing = b.close();
      expect(b.close()).toBe(closing);
      await closing;
    });
  }

  it('--upstream probes every heartbeat once started, and never after close, even when started after it', async () => {
    let probes = 0;
    const upstream = http.createServer((req, res) => {
      probes += 1;
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;
    try {
      const running = await choose(['--upstream', url, '--heartbeat-ms', '50']);
      let changes = 0;
      await running.start({ changed: () => void (changes += 1) });
      await expect.poll(() => probes, { timeout: 5000 }).toBeGreaterThan(1);
      expect(changes).toBeGreaterThan(0);
      await running.close();
      const after = probes;
      const closedFirst = await choose(['--upstream', url, '--heartbeat-ms', '50']);
      await closedFirst.close();
      await closedFirst.start({ changed: () => {} });
      await new Promise((r) => setTimeout(r, 400));
      expect(probes).toBe(after);
    } finally {
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });
});
