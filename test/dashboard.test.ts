/**
 * The dashboard at `/` in real headless Chromium (playwright-core, Debian's /usr/bin/chromium),
 * against the real API and child: clients come and go and the page follows without a reload;
 * a hung child and a dropped stream show; `--token` is asked for. Screenshots go to
 * test-artifacts/ (git-ignored).
 */
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ARTIFACTS, openPage, UI_TIMEOUT, useBrowser } from './helpers/browser.js';
import { connectClient } from './helpers/mcp-client.js';
import { ROOT, startApi } from './helpers/processes.js';
import { freePort } from './helpers/everything-http.js';
import { connectionOf, operationOf, writeSnapshot } from './helpers/snapshot-files.js';
import { LEGACY_OPERATION_BOUNDS, OPERATION_BOUNDS, quantile } from '../shared/operations.js';

useBrowser();

/** Marks the document: still marked later means the page was never reloaded. */
async function mark(page: Page): Promise<void> {
  await page.evaluate(() => {
    (globalThis as unknown as { __mark: number }).__mark = 42;
  });
}

async function marked(page: Page): Promise<boolean> {
  return page.evaluate(() => (globalThis as unknown as { __mark?: number }).__mark === 42);
}

describe('dashboard', () => {
  it('shows the server, and connections arriving and leaving, live without a reload', async () => {
    const api = await startApi();
    const { page, errors } = await openPage();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const res = await page.goto(`${api.url}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await mark(page);
    await page.locator('#stream[data-state="live"]').waitFor();
    const card = page.locator('article[data-server="default"]');
    await card.locator('[data-status="running"]').waitFor();
    await page.getByText('No active connections.').waitFor();

    const c = await connectClient(await api.mcpUrl(), { name: 'browser-seen', version: '4.2.0', userAgent: 'dash-agent/9' });
    await c.client.listTools();
    const row = page.locator(`tr[data-session="${c.sessionId}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells).toEqual(expect.arrayContaining(['browser-seen 4.2.0', 'legacy', '127.0.0.1', 'dash-agent/9']));
    // The session cell: the start of its id, and the button that ends it.
    expect(await row.locator('td.session code').textContent()).toBe(c.sessionId.slice(0, 8));
    expect(await row.locator('td.session').getByRole('button', { name: /^End session/ }).count()).toBe(1);
    // The built-in server has no per-session process: no Memory column.
    expect(await page.locator('#connections th.col-process').isVisible()).toBe(false);
    await expect.poll(() => page.locator('#conns-count').textContent(), { timeout: UI_TIMEOUT }).toBe('1');
    await expect.poll(() => card.locator('.big').textContent(), { timeout: UI_TIMEOUT }).toMatch(/^1 active connection$/);
    // The chart draws the default server's line, and says what it shows.
    await page.locator('#chart path.series[data-server="default"]').waitFor();
    await expect.poll(() => page.locator('#chart svg').getAttribute('aria-label'), { timeout: UI_TIMEOUT }).toContain('default: 1 now');

    const second = await connectClient(await api.mcpUrl(), { name: 'second-client', userAgent: 'other-agent/2' });
    await page.locator(`tr[data-session="${second.sessionId}"]`).waitFor();
    await expect.poll(() => page.locator('#connections tbody tr').count(), { timeout: UI_TIMEOUT }).toBe(2);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    await c.terminate();
    await row.waitFor({ state: 'detached' });
    await second.terminate();
    await page.getByText('No active connections.').waitFor();
    await expect.poll(() => page.locator('#conns-count').textContent(), { timeout: UI_TIMEOUT }).toBe('0');
    expect(await marked(page)).toBe(true);
    // No script error, no blocked request (the CSP allows what the page needs, websocket included).
    expect(errors).toEqual([]);
    expect(sockets.some((u) => u.includes('/socket.io/') && u.includes('transport=websocket'))).toBe(true);
  });

  it('shows when the snapshot goes stale, and when the stream drops', async () => {
    const api = await startApi({ args: ['--heartbeat-ms', '200'] });
    const pid = await api.childPid();
    const { page } = await openPage();
    await page.goto(`${api.url}/`);
    await mark(page);
    await page.locator('#stream[data-state="live"]').waitFor();
    const card = page.locator('article[data-server="default"]');
    await card.locator('[data-status="running"]').waitFor();
    // A child starting on a loaded machine may miss its first 200 ms beats: healthy means no alert once it beats.
    await page.locator('[data-alert]').first().waitFor({ state: 'detached' });
    expect(await page.locator('[data-alert]').count()).toBe(0);

    process.kill(pid, 'SIGSTOP');
    try {
      const alert = page.locator('[data-alert="stale"]');
      await alert.waitFor();
      expect(await alert.textContent()).toMatch(/Server "default": no fresh snapshot since .*hung or dead/);
      await card.locator('[data-stale]').waitFor();
      expect(await card.getAttribute('class')).toContain('is-stale');
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-stale.png'), fullPage: true });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await page.locator('[data-alert="stale"]').waitFor({ state: 'detached' });
    await card.locator('[data-stale]').waitFor({ state: 'detached' });

    // The API goes away: the page says its data is no longer live.
    await api.proc.stop('SIGTERM');
    await page.locator('#stream[data-state="down"]').waitFor();
    await page.locator('[data-alert="stream"]').waitFor();
    expect(await page.locator('#stream').textContent()).toContain('Disconnected');
    await page.locator('article[data-server="default"] [data-outdated]').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-down.png'), fullPage: true });
    expect(await marked(page)).toBe(true);
  });

  it('shows what a client sent as text only, and a very long value does not break the layout', async () => {
    const api = await startApi();
    const { page, errors } = await openPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(new URL(r.url()).pathname));
    await page.goto(`${api.url}/`);
    await page.locator('#stream[data-state="live"]').waitFor();
    const markup = '<img src=x onerror=window.__pwned=1>';
    // C0 and C1 controls (NUL, BEL, an ANSI clear screen, CSI): the child may strip them
    // (server/sessions/client-fields.ts), the page must show the rest as it is.
    const evil = await connectClient(await api.mcpUrl(), {
      name: `${markup}\u0000\u0007\u001b[2J\u009b${'W'.repeat(300)}`,
      version: `<b>${'9'.repeat(100)}</b>`,
      userAgent: `Mozilla/5.0 <script>window.__pwned=2</script> ${'X'.repeat(2000)}`,
    });
    const plain = await connectClient(await api.mcpUrl(), { name: 'plain-client', userAgent: 'plain-agent/1' });
    const row = page.locator(`tr[data-session="${evil.sessionId}"]`);
    await row.waitFor();
    await page.locator(`tr[data-session="${plain.sessionId}"]`).waitFor();

    // No element came of the markup. The CSP would block the inline handler anyway, so check
    // that the image itself was never fetched, not only that the handler did not run.
    expect(await page.locator('#connections img, #connections b, #connections script').count()).toBe(0);
    expect(requested.filter((p) => p.endsWith('/x'))).toEqual([]);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    // The markup shows as literal text.
    const name = (await row.locator('td.client strong').textContent())!.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
    expect(name.startsWith(`${markup}[2J`)).toBe(true);
    expect(name).toContain('WWWW');
    expect(await row.locator('td.client').textContent()).toContain(' <b>999');
    expect(await row.locator('td.ua').textContent()).toContain('<script>window.__pwned=2</script>');

    // The layout holds: no sideways scroll in the table, and the long row stays a few lines high.
    const wrap = await page.locator('.table-wrap:has(#connections)').evaluate((e: { scrollWidth: number; clientWidth: number }) => ({ scroll: e.scrollWidth, width: e.clientWidth }));
    expect(wrap.scroll).toBeLessThanOrEqual(wrap.width);
    const evilHeight = (await row.boundingBox())!.height;
    const plainHeight = (await page.locator(`tr[data-session="${plain.sessionId}"]`).boundingBox())!.height;
    expect(evilHeight).toBeLessThanOrEqual(3 * plainHeight);
    // The whole value stays reachable, as the title of the clipped box.
    expect(await row.locator('td.client .clip').getAttribute('title')).toContain(markup);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-hostile-client.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('with --token: serves the page, asks for the token, then shows live data', async () => {
    const api = await startApi({ args: ['--token', 'dash-s3cret'] });
    // The data stays behind the token; the page's files hold none.
    expect((await api.fetch('/api/mcp/servers')).status).toBe(401);
    for (const file of ['/', '/dashboard.js', '/data.js', '/dom.js', '/operations.js', '/render.js', '/socket.js', '/tools.js', '/tools-view.js', '/dashboard.css']) expect((await api.fetch(file)).status, file).toBe(200);

    const { page } = await openPage();
    await page.goto(`${api.url}/`);
    await mark(page);
    const form = page.locator('#token-form');
    await form.waitFor();
    expect(await page.locator('#content').isHidden()).toBe(true);
    expect(await page.locator('#stream').getAttribute('data-state')).toBe('auth');

    await page.getByLabel('Bearer token').fill('wrong');
    await page.getByRole('button', { name: 'Connect' }).click();
    await expect.poll(() => page.locator('#token-error').textContent(), { timeout: UI_TIMEOUT }).toContain('refused');
    expect(await page.locator('#content').isHidden()).toBe(true);

    await page.getByLabel('Bearer token').fill('dash-s3cret');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.locator('#stream[data-state="live"]').waitFor();
    await form.waitFor({ state: 'hidden' });
    await page.locator('article[data-server="default"] [data-status="running"]').waitFor();
    const c = await connectClient(await api.mcpUrl(), { name: 'token-page-client' });
    await page.locator(`tr[data-session="${c.sessionId}"]`).waitFor();
    expect(await marked(page)).toBe(true);

    // The token is kept for this tab: a reload goes straight to the data.
    await page.reload();
    await page.locator(`tr[data-session="${c.sessionId}"]`).waitFor();
    expect(await form.isHidden()).toBe(true);
  });

  it('shows the era of each connection, both counts on the server card, and an operations table with p50 and p95, live', async () => {
    const api = await startApi();
    const modern = connectionOf('m-00000000000000aa', { era: 'modern', protocolVersion: '2026-07-28', lastMethod: 'tools/call', clientInfo: { name: 'v2-auto', version: '2.0.0' } });
    const legacy = connectionOf('5b1d1f0e-0000-4000-8000-000000000001', { era: 'legacy', lastMethod: 'tools/list', clientInfo: { name: 'v1-client', version: '1.0.0' } });
    const hostile = '<img src=x onerror=window.__pwned=1>';
    // echo's entries, one per error type (docs/state-directory.md, the snapshot schema): one row of the table.
    const operations = [
      operationOf('tools/call', 'echo', [0.003, 0.02, 0.2]),
      operationOf('tools/call', 'echo', [0.2], 'tool_error'),
      operationOf('tools/call', 'echo', [3], '-32603'),
      operationOf('tools/list', null, [...Array(10).fill(0.02), ...Array(10).fill(0.2)]),
      operationOf('tools/call', hostile, [400]),
    ];
    await writeSnapshot(api.stateDir, 'ext', { connections: [modern, legacy], operations });
    // A writer from before `operationBounds`: its buckets are for the legacy bounds.
    await writeSnapshot(api.stateDir, 'old', { connections: [], operationBounds: undefined, operations: [operationOf('tools/call', 'echo', [0.003, 0.02, 0.2, 0.2, 3], null, LEGACY_OPERATION_BOUNDS)] });
    const { page, errors } = await openPage();
    await page.goto(`${api.url}/`);
    await mark(page);
    await page.locator('#stream[data-state="live"]').waitFor();

    const modernRow = page.locator(`tr[data-session="${modern.sessionId}"]`);
    await modernRow.waitFor();
    expect(await modernRow.locator('td.era-cell').textContent()).toBe('modern');
    expect(await page.locator(`tr[data-session="${legacy.sessionId}"] td.era-cell`).textContent()).toBe('legacy');
    expect(await modernRow.textContent()).toContain('tools/call');
    const card = page.locator('article[data-server="ext"]');
    await expect.poll(() => card.locator('[data-eras]').textContent(), { timeout: UI_TIMEOUT }).toBe('1 legacy · 1 modern');
    // The server the API spawned has no client: both counts are there, at zero.
    await expect.poll(() => page.locator('article[data-server="default"] [data-eras]').textContent(), { timeout: UI_TIMEOUT }).toBe('0 legacy · 0 modern');

    const echo = page.locator('#operations tr[data-server="ext"][data-method="tools/call"][data-name="echo"]');
    await echo.waitFor();
    const cellsOf = async (row: typeof echo) => Object.fromEntries(await Promise.all(['calls', 'errors', 'p50', 'p95'].map(async (k) => [k, await row.locator(`td.${k}`).textContent()])));
    // Worked out by hand with the conventions' bounds: 5 calls, p50 rank 2.5 in (0.1, 0.2]
    // holding 2 -> 0.125 s; p95 rank 4.75 in (2, 5] holding 1 -> 4.25 s.
    expect(await cellsOf(echo)).toEqual({ calls: '5', errors: '2', p50: '125.0 ms', p95: '4.25 s' });
    expect(await echo.locator('td.errors').getAttribute('title')).toBe('-32603 × 1 · tool_error × 1');
    // The same durations from an older writer, with its bounds: p50 rank 2.5 in (0.1, 0.25]
    // holding 2 -> 0.1375 s; p95 rank 4.75 in (2.5, 5] holding 1 -> 4.375 s.
    const old = page.locator('#operations tr[data-server="old"][data-name="echo"]');
    expect(await cellsOf(old)).toEqual({ calls: '5', errors: '0', p50: '137.5 ms', p95: '4.38 s' });
    expect(await old.locator('td.errors').getAttribute('title')).toBeNull();
    const list = page.locator('#operations tr[data-server="ext"][data-method="tools/list"]');
    expect(await list.locator('td.name').textContent()).toBe('—');
    expect(await cellsOf(list)).toEqual({ calls: '20', errors: '0', p50: '20.0 ms', p95: '190.0 ms' });
    // A tool name from a client is text; past the last bound the estimate says so.
    const evil = page.locator('#operations tr[data-method="tools/call"]').filter({ hasText: 'onerror' });
    expect(await evil.locator('td.name').textContent()).toBe(hostile);
    expect(await evil.locator('td.p95').textContent()).toBe('≥ 300 s');
    expect(await page.locator('#operations img').count()).toBe(0);
    await expect.poll(() => page.locator('#ops-count').textContent(), { timeout: UI_TIMEOUT }).toBe('31 requests'); // 26 of ext, 5 of old
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-eras-operations.png'), fullPage: true });

    // More calls arrive and the modern client leaves: the page follows without a reload.
    const more = [operationOf('tools/call', 'echo', [0.003, 0.02, 0.2, 0.001, 0.001]), operationOf('tools/call', 'echo', [0.2, 0.001], 'tool_error'), operations[2]!];
    await writeSnapshot(api.stateDir, 'ext', { connections: [legacy], operations: [...more, ...operations.slice(3)] });
    await expect.poll(() => echo.locator('td.calls').textContent(), { timeout: UI_TIMEOUT }).toBe('8');
    expect(await echo.locator('td.errors').textContent()).toBe('3');
    await modernRow.waitFor({ state: 'detached' });
    await expect.poll(() => card.locator('[data-eras]').textContent(), { timeout: UI_TIMEOUT }).toBe('1 legacy · 0 modern');
    expect(await marked(page)).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('estimates quantiles in the page exactly as shared/operations.ts does', async () => {
    const api = await startApi();
    const { page } = await openPage();
    await page.goto(`${api.url}/`);
    // Histograms of random durations (a fixed seed: the same cases every run), counts 0 to 40.
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const cases = Array.from({ length: 200 }, () => {
      const n = Math.floor(random() * 41);
      const op = operationOf('tools/call', 'x', Array.from({ length: n }, () => 10 ** (random() * 5 - 3.5)));
      return { buckets: op.durationSeconds.buckets, count: op.count, q: [0.5, 0.95, 0.99, random()][Math.floor(random() * 4)]! };
    });
    // A string, not a function: vitest would rewrite an import() in a function's source.
    // The page takes the bounds from the snapshot (boundsOf), the legacy ones when it has none.
    const inPage = (await page.evaluate(`(async ([cases, bounds]) => {
      const m = await import(new URL('operations.js', location.href).href);
      const b = m.boundsOf({ operationBounds: bounds });
      return { bounds: b, legacy: m.boundsOf({}), values: cases.map((c) => m.quantile(b, c.buckets, c.count, c.q)) };
    })(${JSON.stringify([cases, OPERATION_BOUNDS])})`)) as { bounds: number[]; legacy: number[]; values: (number | null)[] };
    expect(inPage.bounds).toEqual(OPERATION_BOUNDS);
    expect(inPage.legacy).toEqual(LEGACY_OPERATION_BOUNDS);
    expect(inPage.values).toEqual(cases.map((c) => quantile(OPERATION_BOUNDS, c.buckets, c.count, c.q)));
    expect(inPage.values.filter((v) => v !== null).length).toBeGreaterThan(150);
  });

  it('shows the memory of each --command session\'s process, and an upstream that cannot be reached', async () => {
    const STUBBORN = path.join(ROOT, 'test', 'fixtures', 'stdio-stubborn.mjs');
    const command = await startApi({ args: ['--command', `${process.execPath} ${STUBBORN}`] });
    const { page, errors } = await openPage();
    await page.goto(`${command.url}/`);
    const c = await connectClient(await command.mcpUrl(), { name: 'stdio-fronted' });
    const memory = page.locator(`tr[data-session="${c.sessionId}"] td.col-process`);
    await expect.poll(() => memory.textContent(), { timeout: UI_TIMEOUT }).toMatch(/^\d+\.\d MiB$/);
    expect(await memory.getAttribute('title')).toMatch(/^pid \d+ /);
    expect(await memory.isVisible()).toBe(true);
    await expect.poll(() => page.locator('article[data-server="default"] dd code').textContent(), { timeout: UI_TIMEOUT }).toBe(`command ${process.execPath} ${STUBBORN}`);

    // A port nothing listens on: the probe finds it unreachable at once.
    const closed = await freePort();
    const proxy = await startApi({ args: ['--upstream', `http://127.0.0.1:${closed}/mcp`] });
    const second = await openPage();
    await second.page.goto(`${proxy.url}/`);
    await second.page.locator('article[data-server="default"] [data-upstream-down]').waitFor();
    await expect.poll(() => second.page.locator('[data-alert="upstream"]').textContent(), { timeout: UI_TIMEOUT }).toContain(`its upstream http://127.0.0.1:${closed}/mcp cannot be reached`);
    await second.page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-upstream-down.png'), fullPage: true });
    expect([...errors, ...second.errors]).toEqual([]);
  });
});
