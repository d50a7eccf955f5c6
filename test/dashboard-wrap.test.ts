/**
 * A wrap server as an external writer (test/helpers/snapshot-files.ts: this test process holds
 * its lock and is alive), seen by `mcp-monitor watch` in real headless Chromium: its command,
 * the application that launched it, its process; a stdio connection has no IP and the page
 * never says "null". The API routes and `status`, `inspect` and `tail` show the same connection.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARTIFACTS, openPage, UI_TIMEOUT, useBrowser } from './helpers/browser.js';
import { makeStateDir, Proc, run } from './helpers/processes.js';
import { connectionOf, writeSnapshot } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';

useBrowser();

const TARGET = 'npx -y @modelcontextprotocol/server-memory';
const RSS = 12 * 1024 * 1024;

/** Writes the snapshot a `wrap` of server-memory launched by "claude" would write. */
async function writeWrap(stateDir: string, sessionId: string) {
  const conn = connectionOf(sessionId, {
    transport: 'stdio', clientIP: null, userAgent: null, clientInfo: { name: 'claude-code', version: '2.1.0' },
    era: 'legacy', launchedBy: { pid: 4242, name: 'claude' }, process: { pid: 4243, rssBytes: RSS }, lastMethod: 'tools/list',
  });
  return writeSnapshot(stateDir, 'server-memory', { mcp: null, backend: { kind: 'wrap', target: TARGET }, connections: [conn] });
}

async function startWatch(stateDir: string) {
  const proc = new Proc(['watch', '--port', '0', '--state-dir', stateDir]);
  const line = await proc.waitForLog((l) => l.msg === 'API listening');
  return `http://127.0.0.1:${line.port}`;
}

describe('a wrap server', () => {
  it('the dashboard shows its command, launcher and process, a stdio connection without an IP, and never null', async () => {
    const stateDir = await makeStateDir();
    const sessionId = randomUUID();
    await writeWrap(stateDir, sessionId);
    const url = await startWatch(stateDir);
    const { page, errors } = await openPage();
    await page.goto(`${url}/`);
    const card = page.locator('article[data-server="server-memory"]');
    await card.locator('[data-status="external"]').waitFor();
    await expect.poll(() => card.locator('[data-wrap-command]').textContent(), { timeout: UI_TIMEOUT }).toBe(TARGET);
    expect(await card.locator('[data-launched-by]').textContent()).toBe('claude (pid 4242)');
    expect(await card.locator('[data-process]').textContent()).toBe('pid 4243 · 12.0 MiB');

    const row = page.locator(`tr[data-session="${sessionId}"]`);
    await row.waitFor();
    expect(await row.locator('td[data-transport="stdio"]').textContent()).toBe('- (stdio)');
    expect(await row.locator('td.client .launched-by').textContent()).toBe('launched by claude (pid 4242)');
    expect(await row.locator('td.col-process').textContent()).toBe('12.0 MiB');
    expect(await row.locator('td.col-process').getAttribute('title')).toContain('pid 4243');
    const text = await page.locator('body').innerText();
    expect(text).not.toMatch(/\bnull\b|undefined/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-wrap.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('a launcher name is text, never markup', async () => {
    const stateDir = await makeStateDir();
    const sessionId = randomUUID();
    const conn = connectionOf(sessionId, { transport: 'stdio', clientIP: null, userAgent: null, launchedBy: { pid: 7, name: '<img src=x onerror=alert(1)>' }, process: { pid: 8, rssBytes: null } });
    await writeSnapshot(stateDir, 'evil', { mcp: null, backend: { kind: 'wrap', target: '<b>cmd</b>' }, connections: [conn] });
    const url = await startWatch(stateDir);
    const { page, errors } = await openPage();
    await page.goto(`${url}/`);
    const card = page.locator('article[data-server="evil"]');
    await expect.poll(() => card.locator('[data-launched-by]').textContent(), { timeout: UI_TIMEOUT }).toBe('<img src=x onerror=alert(1)> (pid 7)');
    expect(await card.locator('[data-wrap-command]').textContent()).toBe('<b>cmd</b>');
    expect(await card.locator('[data-process]').textContent()).toBe('pid 8');
    expect(await page.locator('img[src="x"], b:text("cmd")').count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('the API routes give transport stdio, clientIP null and launchedBy; status, inspect and tail print it without null', async () => {
    const stateDir = await makeStateDir();
    const sessionId = randomUUID();
    await writeWrap(stateDir, sessionId);
    const url = await startWatch(stateDir);
    const servers = await waitFor(async () => ((await (await fetch(`${url}/api/mcp/servers`)).json()) as any).servers.find((s: any) => s.serverId === 'server-memory'), { what: 'the wrap server' });
    expect(servers).toMatchObject({ status: 'external', pid: process.pid, mcpUrl: null, activeConnections: 1, stale: false });
    const conn = (await (await fetch(`${url}/api/mcp/servers/server-memory/connections/${sessionId}`)).json()) as any;
    expect(conn).toMatchObject({ transport: 'stdio', clientIP: null, userAgent: null, launchedBy: { pid: 4242, name: 'claude' }, process: { pid: 4243, rssBytes: RSS } });
    const list = (await (await fetch(`${url}/api/mcp/servers/server-memory/connections`)).json()) as any;
    expect(list.backend).toEqual({ kind: 'wrap', target: TARGET });

    const env = { COLUMNS: '200' };
    const status = await run(['status', '--state-dir', stateDir], { env });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/server-memory\s+running/);
    expect(status.stdout).not.toMatch(/null|undefined/);
    const inspect = await run(['inspect', '--state-dir', stateDir], { env });
    expect(inspect.stdout).toContain(sessionId.slice(0, 8));
    expect(inspect.stdout).not.toMatch(/null|undefined/);
    const tail = new Proc(['tail', '--state-dir', stateDir], { env });
    const open = await waitFor(() => tail.stdout.find((l) => l.includes(sessionId)), { what: 'the open connection in tail' });
    expect(open).not.toMatch(/null|undefined/);
    await tail.stop();
  });
});
