/**
 * The dashboard's Tools view in real headless Chromium (test/helpers/browser.ts) against the real
 * API and child: a real client lists the tools and calls some, and the page shows each tool's
 * definition size, calls, errors, p50 and last call, marks the tools never called and the
 * largest definitions, and its rows are those of `GET …/tools`; the join in the page
 * (api/public/tools.js) gives the rows of shared/tool-usage.ts; tool names from a hostile file
 * are text.
 */
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ARTIFACTS, openPage, UI_TIMEOUT, useBrowser } from './helpers/browser.js';
import { connectClient } from './helpers/mcp-client.js';
import { ROOT, startApi } from './helpers/processes.js';
import { operationOf, writeSnapshot } from './helpers/snapshot-files.js';
import { waitFor } from './helpers/wait-for.js';
import { toolUsage, type ToolUsage } from '../shared/tool-usage.js';
import { LEGACY_OPERATION_BOUNDS, OPERATION_BOUNDS, type Operation } from '../shared/operations.js';
import type { Catalog } from '../shared/tool-catalog.js';

useBrowser();

const ENTRY_V2 = path.join(ROOT, 'test', 'fixtures', 'entry-server-v2.mjs');

interface PageRow extends Omit<ToolUsage, 'lastCalledAt'> {
  lastCalledAt: string | null;
  never: boolean;
  largest: boolean;
  sizeText: string;
  sizeTitle: string | null;
}

/** The rows of a server's Tools table as the page shows them, top to bottom. */
async function pageRows(page: Page, serverId: string): Promise<PageRow[]> {
  // A string, not a function: what vitest makes of a function's source is not for the page.
  return (await page.evaluate(`[...document.querySelectorAll('#tools section[data-server=${JSON.stringify(serverId)}] tbody tr')].map((tr) => {
    const cell = (k) => tr.querySelector('td.' + k);
    const p50 = cell('p50').dataset.p50Ms;
    return {
      name: cell('name').textContent,
      bytes: Number(cell('bytes').dataset.bytes),
      calls: Number(cell('calls').textContent),
      errors: Number(cell('errors').textContent),
      p50Ms: p50 === undefined ? null : Number(p50),
      lastCalledAt: cell('last').dataset.at ?? null,
      never: tr.classList.contains('never-called') && cell('last').querySelector('[data-never-called]') !== null,
      largest: tr.classList.contains('largest') && cell('bytes').querySelector('[data-largest]') !== null,
      sizeText: cell('bytes').querySelector('.value').textContent,
      sizeTitle: cell('bytes').getAttribute('title'),
    };
  })`)) as PageRow[];
}

/** The route's rows in the page's order: the biggest definitions first, then by name. */
function byBytes(rows: ToolUsage[]): ToolUsage[] {
  return [...rows].sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What the page is documented to mark as largest (api/public/tools-view.js): the top 10 %, ties too, unless every tool would be. */
function largestOf(rows: ToolUsage[]): string[] {
  const sizes = rows.map((r) => r.bytes).sort((a, b) => b - a);
  if (rows.length < 2) return [];
  const cut = sizes[Math.ceil(rows.length / 10) - 1]!;
  return cut === sizes.at(-1) ? [] : rows.filter((r) => r.bytes >= cut).map((r) => r.name);
}

describe('dashboard: tools', () => {
  it('shows each tool listed by a real client with its size, calls, errors, p50 and last call, marks the never called and the largest, and equals GET …/tools', async () => {
    const api = await startApi({ args: ['--entry', ENTRY_V2] });
    const { page, errors } = await openPage();
    await page.goto(`${api.url}/`);
    await page.locator('#stream[data-state="live"]').waitFor();
    const block = page.locator('#tools section[data-server="default"]');
    // Nothing listed yet: one line says so, and no table shows.
    await expect.poll(() => block.locator('[data-tools-note]').textContent(), { timeout: UI_TIMEOUT }).toBe('Tools not listed yet.');
    expect(await block.locator('table').isVisible()).toBe(false);

    const c = await connectClient(await api.mcpUrl(), { name: 'tools-page-client' });
    const listed = await c.client.listTools();
    expect(listed.tools.map((t) => t.name).sort()).toEqual(['add', 'fail', 'wait']);
    await c.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    await c.client.callTool({ name: 'add', arguments: { a: 3, b: 4 } });
    await c.client.callTool({ name: 'add', arguments: { a: 5, b: 6 } });
    expect((await c.client.callTool({ name: 'fail', arguments: {} })).isError).toBe(true);

    const route = await waitFor(async () => {
      const r = await api.json<{ catalog: Catalog | null; tools: ToolUsage[] }>('/api/mcp/servers/default/tools');
      const by = new Map(r.body.tools?.map((t) => [t.name, t]));
      return by.get('add')?.calls === 3 && by.get('fail')?.calls === 1 ? r.body : undefined;
    }, { what: 'the calls counted by the route', timeout: 15_000 });
    const expected = byBytes(route.tools);

    // The page follows without a reload, to exactly the route's rows, in its order.
    await expect.poll(async () => (await pageRows(page, 'default')).map(({ name, bytes, calls, errors, p50Ms, lastCalledAt }) => ({ name, bytes, calls, errors, p50Ms, lastCalledAt })), { timeout: UI_TIMEOUT }).toEqual(expected);
    const rows = await pageRows(page, 'default');
    const by = new Map(rows.map((r) => [r.name, r]));
    expect(by.get('add')).toMatchObject({ calls: 3, errors: 0, never: false });
    expect(by.get('fail')).toMatchObject({ calls: 1, errors: 1, never: false });
    expect(by.get('wait')).toMatchObject({ calls: 0, errors: 0, p50Ms: null, lastCalledAt: null, never: true });
    expect(await block.locator('tr[data-name="fail"] td.errors').getAttribute('class')).toContain('has-errors');
    expect(await block.locator('tr[data-name="wait"] td.p50').textContent()).toBe('—');
    expect(await block.locator('tr[data-name="add"] td.p50').textContent()).toMatch(/^\d+\.\d ms$/);
    // Sizes: readable, the exact bytes of the route in the title.
    for (const r of rows) {
      expect(r.sizeTitle).toBe(`${r.bytes} bytes`);
      expect(r.sizeText).toBe(r.bytes < 1000 ? `${r.bytes} B` : `${(r.bytes / 1000).toFixed(1)} kB`);
    }
    // The largest: one of three tools (unless all three were of one size).
    const largest = largestOf(route.tools);
    expect(rows.filter((r) => r.largest).map((r) => r.name)).toEqual(largest);
    // The last call: a relative time, the ISO time of the route in the title.
    const last = block.locator('tr[data-name="add"] td.last');
    expect(await last.getAttribute('title')).toBe(route.tools.find((t) => t.name === 'add')!.lastCalledAt);
    expect(await last.textContent()).toMatch(/^(just now|\d+ s ago)$/);
    // The heading line: the tool count and the catalog's total bytes.
    const summary = block.locator('[data-tools-summary]');
    expect(await summary.textContent()).toMatch(/^3 tools · \d+(\.\d)? k?B of definitions$/);
    expect(await summary.getAttribute('title')).toBe(`${route.catalog!.totalBytes} bytes`);
    expect(route.catalog!.totalBytes).toBe(route.tools.reduce((n, t) => n + t.bytes, 0));
    expect(await block.locator('[data-tools-note]').isVisible()).toBe(false);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-tools.png'), fullPage: true });

    // The tool never called is called: it loses its mark, live.
    await c.client.callTool({ name: 'wait', arguments: { ms: 1 } });
    await expect.poll(async () => (await pageRows(page, 'default')).find((r) => r.name === 'wait')?.calls, { timeout: UI_TIMEOUT }).toBe(1);
    expect((await pageRows(page, 'default')).some((r) => r.never)).toBe(false);
    expect(await block.locator('tr.never-called').count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('shows a hostile tool name as text, bounded, a catalog of many tools with its largest marked, and a server without one', async () => {
    const api = await startApi();
    const { page, errors } = await openPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(new URL(r.url()).pathname));
    const hostile = '<img src=x onerror=window.__pwned=1>';
    const long = `${'W'.repeat(120)}<b>x</b>`;
    // Twenty tools: the two largest (10 %) are marked. A name listed twice is one tool.
    const tools = [
      { name: hostile, bytes: 5000 },
      { name: long, bytes: 4000 },
      ...Array.from({ length: 18 }, (_, i) => ({ name: `t${String(i).padStart(2, '0')}`, bytes: 100 + i })),
      { name: hostile, bytes: 1 },
    ];
    const catalog: Catalog = { tools, totalBytes: tools.reduce((n, t) => n + t.bytes, 0), seenAt: new Date(Date.now() - 90_000).toISOString() };
    const operations: Operation[] = [
      // One tool's entries, one per error type (docs/state-directory.md): a row of the page sums them.
      { ...operationOf('tools/call', hostile, [0.02, 0.2]), lastCalledAt: new Date(Date.now() - 125_000).toISOString() },
      { ...operationOf('tools/call', hostile, [0.2], 'tool_error'), lastCalledAt: new Date(Date.now() - 130_000).toISOString() },
      { ...operationOf('tools/call', 't03', [0.003]), lastCalledAt: new Date(Date.now() - 5_000).toISOString() },
    ];
    await writeSnapshot(api.stateDir, 'ext', { connections: [], catalog, operations });
    await page.goto(`${api.url}/`);
    await page.locator('#stream[data-state="live"]').waitFor();
    const block = page.locator('#tools section[data-server="ext"]');
    await expect.poll(() => block.locator('tbody tr').count(), { timeout: UI_TIMEOUT }).toBe(20);

    // No element came of the markup, the image was never fetched, the handler never ran.
    expect(await page.locator('#tools img, #tools b').count()).toBe(0);
    expect(requested.filter((p) => p.endsWith('/x'))).toEqual([]);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    const rows = await pageRows(page, 'ext');
    expect(rows[0]).toMatchObject({ name: hostile, bytes: 5000, calls: 3, errors: 1, largest: true, never: false });
    expect(rows[1]).toMatchObject({ name: long, bytes: 4000, calls: 0, largest: true, never: true });
    expect(rows.filter((r) => r.largest)).toHaveLength(2);
    expect(rows.filter((r) => r.never)).toHaveLength(18);
    expect(rows.find((r) => r.name === 't03')).toMatchObject({ calls: 1, never: false, largest: false });
    expect(await block.locator('td.name .clip').first().getAttribute('title')).toBe(hostile);
    expect(await block.locator('tbody tr').first().locator('td.last').textContent()).toMatch(/^2 min 0\d s ago$/);
    // The page's rows are those of the route, in the page's order.
    const route = await api.json<{ tools: ToolUsage[] }>('/api/mcp/servers/ext/tools');
    expect(rows.map(({ name, bytes, calls, errors: e, p50Ms, lastCalledAt }) => ({ name, bytes, calls, errors: e, p50Ms, lastCalledAt }))).toEqual(byBytes(route.body.tools));
    expect(await block.locator('[data-tools-summary]').textContent()).toBe(`20 tools · ${(catalog.totalBytes / 1000).toFixed(1)} kB of definitions`);
    expect(await block.locator('.tools-seen').textContent()).toMatch(/^listed 1 min 3\d s ago$/);
    // The layout holds: no sideways scroll for the long name.
    const wrap = await block.locator('.table-wrap').evaluate((e: { scrollWidth: number; clientWidth: number }) => ({ scroll: e.scrollWidth, width: e.clientWidth }));
    expect(wrap.scroll).toBeLessThanOrEqual(wrap.width);
    // The server the API spawned: nobody listed its tools.
    expect(await page.locator('#tools section[data-server="default"] [data-tools-note]').textContent()).toBe('Tools not listed yet.');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-tools-hostile.png'), fullPage: true });

    // A new listing without the hostile tool: the page follows.
    await writeSnapshot(api.stateDir, 'ext', { connections: [], catalog: { tools: tools.slice(1, 5), totalBytes: 4000 + 100 + 101 + 102, seenAt: new Date().toISOString() }, operations });
    await expect.poll(() => block.locator('tbody tr').count(), { timeout: UI_TIMEOUT }).toBe(4);
    expect(await block.locator('[data-tools-summary]').textContent()).toBe('4 tools · 4.3 kB of definitions');
    expect((await pageRows(page, 'ext')).filter((r) => r.largest).map((r) => r.name)).toEqual([long]);
    expect(errors).toEqual([]);
  });

  it('joins catalog and operations in the page exactly as shared/tool-usage.ts does', async () => {
    const api = await startApi();
    const { page } = await openPage();
    await page.goto(`${api.url}/`);
    // Random catalogs and operations (a fixed seed: the same cases every run): names shared by
    // both, names listed twice, entries split by error type, times with and without milliseconds.
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const names = ['a', 'b', 'c', 'd', '_OTHER'];
    const cases = Array.from({ length: 100 }, () => {
      const tools = Array.from({ length: Math.floor(random() * 6) }, () => ({ name: pick(names), bytes: Math.floor(random() * 5000) }));
      const catalog: Catalog | null = random() < 0.15 ? null : { tools, totalBytes: tools.reduce((n, t) => n + t.bytes, 0), seenAt: new Date().toISOString() };
      // A third of the snapshots from a writer before `operationBounds` (the legacy bounds).
      const legacy = random() < 0.3;
      const bounds = legacy ? LEGACY_OPERATION_BOUNDS : OPERATION_BOUNDS;
      const operations: Operation[] = Array.from({ length: Math.floor(random() * 8) }, () => {
        const n = Math.floor(random() * 20);
        const op = operationOf(pick(['tools/call', 'tools/call', 'prompts/get', 'tools/list']), pick([...names, null]), Array.from({ length: n }, () => 10 ** (random() * 5 - 3.5)), null, bounds);
        const errors = Math.floor(random() * (n + 1));
        const ms = Date.UTC(2026, 11, 1) + Math.floor(random() * 3) * 1000 + (random() < 0.5 ? 0 : Math.floor(random() * 1000));
        const at = random() < 0.3 ? undefined : random() < 0.5 ? new Date(ms).toISOString() : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
        return { ...op, errors, ...(at !== undefined && { lastCalledAt: at }) };
      });
      return { catalog, operations, ...(!legacy && { operationBounds: [...OPERATION_BOUNDS] }) };
    });
    const inPage = (await page.evaluate(`(async (cases) => {
      const m = await import(new URL('tools.js', location.href).href);
      return cases.map((c) => m.toolUsage(c));
    })(${JSON.stringify(cases)})`)) as ToolUsage[][];
    expect(inPage).toEqual(cases.map((c) => toolUsage(c)));
    // The cases are not all empty: calls, errors, quantiles and last calls were compared.
    const all = inPage.flat();
    expect(all.filter((r) => r.calls > 0 && r.p50Ms !== null).length).toBeGreaterThan(20);
    expect(all.filter((r) => r.errors > 0).length).toBeGreaterThan(10);
    expect(all.filter((r) => r.lastCalledAt !== null).length).toBeGreaterThan(10);
    expect(all.filter((r) => r.calls === 0).length).toBeGreaterThan(10);
  });
});
