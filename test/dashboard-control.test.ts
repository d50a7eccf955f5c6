/**
 * Operator control from the dashboard in real headless Chromium, against the real API and
 * child: the End button of a session row ends the session (through the control directory: the
 * child journals `terminated` by `api`, the client's next request gets 404), Restart / Stop /
 * Start on a server card drive its supervisor, each after a confirmation; with and without
 * `--token`. The connections table's server filter, and an external server without controls.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ARTIFACTS, openPage, UI_TIMEOUT, useBrowser } from './helpers/browser.js';
import { connectClient } from './helpers/mcp-client.js';
import { startApi, type Api } from './helpers/processes.js';
import { startServer } from './helpers/server-process.js';

useBrowser();

const TOKEN = 'ctl-s3cret';
const AUTH = { headers: { Authorization: `Bearer ${TOKEN}` } };

/** The page of `api`, live (the token typed in when the API has one). */
async function livePage(api: Api, token?: string): Promise<{ page: Page; errors: string[] }> {
  const { page, errors } = await openPage();
  await page.goto(`${api.url}/`);
  if (token) {
    await page.getByLabel('Bearer token').fill(token);
    await page.getByRole('button', { name: 'Connect' }).click();
  }
  await page.locator('#stream[data-state="live"]').waitFor();
  return { page, errors };
}

/** The confirmation the next click raises: accepted (or dismissed); its text. */
function answerConfirm(page: Page, accept: boolean): Promise<string> {
  return new Promise((resolve) => {
    page.once('dialog', (d) => {
      resolve(d.message());
      void (accept ? d.accept() : d.dismiss());
    });
  });
}

describe('dashboard control', () => {
  it('with --token: the End button ends a real session after a confirmation', async () => {
    const api = await startApi({ args: ['--token', TOKEN] });
    const { page, errors } = await livePage(api, TOKEN);
    const c = await connectClient(await api.mcpUrl(), { name: 'to-be-ended' });
    const row = page.locator(`tr[data-session="${c.sessionId}"]`);
    await row.waitFor();

    // Dismissed: nothing is sent, the session stays.
    const deletes: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'DELETE') deletes.push(r.url());
    });
    const asked = answerConfirm(page, false);
    await row.getByRole('button', { name: /^End session/ }).click();
    expect(await asked).toContain(c.sessionId.slice(0, 8));
    expect(deletes).toEqual([]);
    await c.client.listTools();

    const accepted = answerConfirm(page, true);
    await row.getByRole('button', { name: /^End session/ }).click();
    await accepted;
    await row.waitFor({ state: 'detached' });
    // The card counts from the same data as the table, in the same render: never one behind.
    expect(await page.locator('article[data-server="default"] .big').textContent()).toMatch(/^0 /);
    expect(deletes).toEqual([`${api.url}/api/mcp/servers/default/connections/${c.sessionId}`]);
    await expect.poll(() => page.locator('#notice').textContent(), { timeout: UI_TIMEOUT }).toContain('being ended');
    expect((await api.json(`/api/mcp/connections/${c.sessionId}`, AUTH)).status).toBe(404);
    const journal = await readFile(path.join(api.stateDir, 'default', 'events.jsonl'), 'utf8');
    const line = journal.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'disconnect' && e.sessionId === c.sessionId);
    expect(line).toMatchObject({ reason: 'terminated', by: 'api' });
    await expect(c.client.listTools()).rejects.toThrow(/404|not found/i);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-end-session.png'), fullPage: true });
    // The page's first request, before the token was typed in, is refused: that is how it asks.
    expect(errors.filter((e) => !e.includes('401 (Unauthorized)'))).toEqual([]);
  });

  it('stops, starts and restarts a server from its card; an external server has no controls; the table filters by server', async () => {
    const api = await startApi();
    const firstPid = await api.childPid();
    const other = await startServer({ stateDir: api.stateDir, serverId: 'other' });
    const { page, errors } = await livePage(api);
    const card = page.locator('article[data-server="default"]');
    const otherCard = page.locator('article[data-server="other"]');
    await otherCard.locator('[data-status="external"]').waitFor();
    expect(await otherCard.getByRole('button').count()).toBe(0);

    // The filter: both servers' sessions, then one server's.
    const mine = await connectClient(await api.mcpUrl(), { name: 'on-default' });
    const theirs = await connectClient(other.url, { name: 'on-other' });
    await page.locator(`tr[data-session="${mine.sessionId}"]`).waitFor();
    await page.locator(`tr[data-session="${theirs.sessionId}"]`).waitFor();
    await page.locator('#server-filter').selectOption('other');
    await page.locator(`tr[data-session="${mine.sessionId}"]`).waitFor({ state: 'detached' });
    expect(await page.locator('#connections tbody tr').count()).toBe(1);
    await page.locator('#server-filter').selectOption('');
    await page.locator(`tr[data-session="${mine.sessionId}"]`).waitFor();

    // Stop: the supervisor's state, no restart, then only Start is offered.
    const stopAsked = answerConfirm(page, true);
    await card.getByRole('button', { name: 'Stop' }).click();
    expect(await stopAsked).toContain('Stop server "default"');
    await card.locator('[data-status="stopped"]').waitFor();
    await expect.poll(async () => (await api.json('/api/mcp/servers')).body.servers.find((s: { serverId: string }) => s.serverId === 'default').status, { timeout: UI_TIMEOUT }).toBe('stopped');
    expect(await card.getByRole('button').allTextContents()).toEqual(['Start']);

    const startAsked = answerConfirm(page, true);
    await card.getByRole('button', { name: 'Start' }).click();
    await startAsked;
    await card.locator('[data-status="running"]').waitFor();
    const secondPid = await api.childPid();
    expect(secondPid).not.toBe(firstPid);

    // Restart: a new child, and a restart asked for is not counted as a failure.
    const restartAsked = answerConfirm(page, true);
    await card.getByRole('button', { name: 'Restart' }).click();
    await restartAsked;
    await expect.poll(async () => {
      const s = (await api.json('/api/mcp/servers')).body.servers.find((x: { serverId: string }) => x.serverId === 'default');
      return s.status === 'running' && s.pid !== secondPid ? s.restarts : undefined;
    }, { timeout: 20_000 }).toBe(0);
    await card.locator('[data-status="running"]').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-server-controls.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
