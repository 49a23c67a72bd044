/**
 * Debian's chromium, headless, driven through the DevTools protocol by
 * playwright-core (which downloads no browser): a context per signed-in
 * person (its own sessionStorage and localStorage), screenshots at desktop
 * and phone widths, and the checks every page gets (one h1, no sideways
 * scrolling at 390 px, no content security policy violation).
 *
 * With SETTLED_CONSOLE_DIST=local the console's files are served from
 * dist/ instead of the server's embedded copy: for working on the console
 * against a server binary built before the last change of dist/. CI never
 * sets it (and the first test checks that the server serves dist/).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

import { ARTIFACTS, CHROMIUM, DIST } from './paths.js';

export const DESKTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 390, height: 844 } as const;

/** How long the tests wait for something to appear on a page. */
export const APPEAR_MS = 15_000;

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Whether the console's files come from dist/ rather than the server (see the module's comment). */
export const LOCAL_DIST = process.env['SETTLED_CONSOLE_DIST'] === 'local';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** A page of its own context, recording the console's errors. */
export interface ConsolePage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Messages of the browser console of type error (CSP violations among them). */
  readonly errors: string[];
  close(): Promise<void>;
}

export async function openPage(browser: Browser, origin: string, viewport: { width: number; height: number } = DESKTOP): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport, baseURL: origin });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  if (LOCAL_DIST) {
    await page.route(/\/(index\.html|console\.js|console\.css|favicon\.svg)?$/, async (route) => {
      const url = new URL(route.request().url());
      const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
      const response = await route.fetch();
      await route.fulfill({
        response,
        body: await readFile(join(DIST, name)),
        headers: { ...response.headers(), 'content-type': CONTENT_TYPES[name] ?? 'application/octet-stream' },
      });
    });
  }
  return { context, page, errors, close: () => context.close() };
}

/** Signs in on the sign-in page with `token` (and pins, when given). */
export async function signIn(page: Page, token: string, pins?: { engineKey: string; chainId: string }): Promise<void> {
  await page.goto('/#/signin');
  await page.getByLabel('Token').fill(token);
  if (pins !== undefined) {
    await page.getByLabel('Engine public key').fill(pins.engineKey);
    await page.getByLabel('Chain id').fill(pins.chainId);
  }
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The page has exactly one h1, and (at phone width) nothing wider than the screen. */
export async function checkPage(page: Page, what: string): Promise<void> {
  assert.equal(await page.locator('h1').count(), 1, `${what}: one h1`);
  const size = page.viewportSize();
  if (size !== null && size.width <= PHONE.width) {
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    assert.ok(scrollWidth <= innerWidth, `${what}: the page scrolls sideways at ${innerWidth} px (${scrollWidth} px wide)`);
  }
}

/**
 * Screenshots of the page at desktop and phone widths
 * (test-artifacts/<name>-desktop.png and -phone.png), checking the page at
 * each; the viewport is put back afterwards.
 */
export async function screenshots(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  const before = page.viewportSize() ?? DESKTOP;
  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    await page.setViewportSize(viewport);
    await page.waitForTimeout(100);
    await checkPage(page, `${name} at ${viewport.width} px`);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(before);
}

/** The text of the figure `key` (`data-figure`). */
export function figure(page: Page, key: string): Promise<string> {
  return page.locator(`[data-figure="${key}"]`).first().innerText();
}

/** The cells of a table's body, row by row. */
export function tableRows(page: Page, selector: string): Promise<string[][]> {
  return page.locator(`${selector} tbody tr`).evaluateAll((rows) =>
    rows.map((row) => Array.from(row.children).map((cell) => (cell as HTMLElement).innerText.trim())),
  );
}
