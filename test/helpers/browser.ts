/**
 * Real headless Chromium for the dashboard tests (playwright-core driving Debian's
 * /usr/bin/chromium, which `.ci/run` installs when absent): one browser per test file, a fresh
 * context per page, console errors collected so that a test can say the page had none.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { closeClients } from './mcp-client.js';
import { cleanup, ROOT } from './processes.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Where screenshots go (git-ignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');
/** How long the page may take to show something. */
export const UI_TIMEOUT = 15_000;

let browser: Browser | undefined;
const contexts = new Set<BrowserContext>();

/** Starts the browser (in `beforeAll`). */
export async function launchBrowser(): Promise<void> {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  await mkdir(ARTIFACTS, { recursive: true });
}

/** Closes the pages of the test (in `afterEach`). */
export async function closePages(): Promise<void> {
  await Promise.all([...contexts].map((c) => c.close()));
  contexts.clear();
}

/** Closes the browser (in `afterAll`). */
export async function closeBrowser(): Promise<void> {
  await browser?.close();
  browser = undefined;
}

/** A new page in a context of its own, and the errors its console and scripts report. */
export async function openPage(): Promise<{ page: Page; errors: string[] }> {
  if (!browser) throw new Error('launchBrowser() first');
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.add(context);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, errors };
}

/**
 * The hooks of a dashboard test file: one browser for the file; after each test, its pages,
 * MCP clients and processes closed.
 */
export function useBrowser(): void {
  beforeAll(launchBrowser);
  afterAll(closeBrowser);
  afterEach(async () => {
    await closePages();
    await closeClients();
    await cleanup();
  });
}
