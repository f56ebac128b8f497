import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { startTestServer, type TestServer } from '../server/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');
const REPLY = 'The fuel dock is marked by a red circle [1], shown in the picture [5].';
const hasChromium = existsSync(CHROMIUM);
const hasWebApp = existsSync(join(ROOT, 'web', 'dist', 'index.html'));

if (!hasChromium) {
  console.warn(`Skipping the browser tests: ${CHROMIUM} is missing (apt-get install chromium).`);
}

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  if (!hasChromium) return;
  tmp = tempDir('mmrag-browser-');
  await writeShapesPage(join(tmp.dir, 'site'));
  writeFileSync(
    join(tmp.dir, 'notes.md'),
    '# Harbour notes\n\nThe ferry to the island leaves from the north pier every morning at seven o clock sharp.\n',
  );
  llm = await startLoopbackLlm({ reply: REPLY, chunks: 6, chunkDelayMs: 40 });
  server = await startTestServer(join(tmp.dir, 'kb'), { provider: 'ollama', url: llm.url });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  mkdirSync(SHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await llm?.close();
  tmp?.cleanup();
});

async function newPage(scheme: 'light' | 'dark', width = 1200): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 860 }, colorScheme: scheme });
  const page = await context.newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
  return page;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

describe.skipIf(!hasChromium)('the web app in headless Chromium', () => {
  it('is built (web/dist is committed)', () => {
    expect(hasWebApp).toBe(true);
  });

  it('uploads two files, shows progress finish, asks, streams the answer with a picture, deletes a source', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/ask`);
    await page.getByText('Your knowledge base is empty').waitFor();
    await shot(page, 'ask-empty-light');

    await page.getByRole('link', { name: 'Library' }).click();
    await page.getByText('Nothing here yet').waitFor();
    await shot(page, 'library-empty-light');

    // A folder (the saved page with its pictures), then a second file.
    await page.getByTestId('folder-input').setInputFiles(join(tmp.dir, 'site'));
    await page.getByText(/Done: 1 file added/).waitFor();
    await page.getByTestId('file-input').setInputFiles(join(tmp.dir, 'notes.md'));
    await page
      .getByText(/Done: 1 file added/)
      .nth(1)
      .waitFor();
    const rows = page.locator('.sources-table tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    await expect.poll(() => page.locator('.file-row.status-ingested').count()).toBe(2);
    expect(await page.locator('.file-row').first().textContent()).toMatch(/passage/);
    await shot(page, 'library-light');

    await page.getByRole('button', { name: 'site/shapes.html', exact: true }).click();
    await page.getByText('Pictures and frames').waitFor();
    await expect.poll(() => page.locator('.detail .thumb img').count()).toBe(3);
    await shot(page, 'library-source-light');

    await page.getByRole('link', { name: 'Ask' }).click();
    await page.getByText('Ask your files').waitFor();
    await page.getByLabel('Question').fill('Which shape marks the fuel dock? a red circle');
    await page.getByLabel('Question').press('Enter');
    const answer = page.locator('.answer-text').first();
    await expect
      .poll(() => answer.textContent(), { timeout: 30_000 })
      .toBe(REPLY.replace(/\[(\d+)\]/g, '$1'));
    await page.getByText('Answered by ollama/llama3.2-vision').waitFor();
    const thumb = page.locator('.answer .thumb img').first();
    await thumb.waitFor();
    await expect
      .poll(() =>
        thumb.evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth),
      )
      .toBeGreaterThan(0);
    expect(await page.locator('.answer .thumb figcaption').first().textContent()).toBe(
      'The fuel dock marker',
    );
    // Citation [1] links to source 1.
    expect(await page.locator('.cite a').first().getAttribute('href')).toMatch(/#src-\d+-1$/);
    await shot(page, 'ask-light');

    await page.locator('.answer .thumb button').first().click();
    await page.locator('.lightbox img').waitFor();
    await shot(page, 'picture-light');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('.lightbox').count()).toBe(0);

    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Search').fill('a blue square');
    await page.getByLabel('Search').press('Enter');
    await page.locator('.search-view .thumb img').first().waitFor();
    expect(await page.locator('.search-view .thumb figcaption').first().textContent()).toBe(
      'Customs office marker',
    );
    await shot(page, 'search-light');

    await page.getByRole('link', { name: 'Library' }).click();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Delete notes.md' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('shapes.html');
    await page.context().close();
  });

  it('looks right in the dark theme and on a phone-sized screen', async () => {
    const page = await newPage('dark');
    await page.goto(`${server.url}/#/ask`);
    await page.getByText('Ask your files').waitFor();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await page.getByLabel('Question').fill('a red circle');
    await page.getByLabel('Question').press('Enter');
    await page.locator('.answer .thumb img').first().waitFor();
    await page.getByText(/Answered by/).waitFor();
    await shot(page, 'ask-dark');
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('complementary', { name: 'Settings' }).waitFor();
    await page.getByLabel('Picture results (k)').fill('2');
    await shot(page, 'settings-dark');
    await page.getByRole('link', { name: 'Library' }).click();
    await page.locator('.sources-table').waitFor();
    await shot(page, 'library-dark');
    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Search').fill('a green triangle');
    await page.getByLabel('Search').press('Enter');
    await page.locator('.search-view .thumb img').first().waitFor();
    // The picture k from the settings (2) is used and remembered.
    expect(await page.locator('.search-view .thumb').count()).toBeLessThanOrEqual(2);
    await shot(page, 'search-dark');
    // The toggle switches to light and is remembered over the system preference.
    await page.getByRole('button', { name: 'Switch to the light theme' }).click();
    await page.reload();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
    await page.context().close();

    const phone = await newPage('light', 390);
    await phone.goto(`${server.url}/#/ask`);
    await phone.getByLabel('Question').fill('a red circle');
    await phone.getByLabel('Question').press('Enter');
    await phone.locator('.answer .thumb img').first().waitFor();
    await phone.getByText(/Answered by/).waitFor();
    await shot(phone, 'ask-phone-light');
    await phone.context().close();
  });

  it('without any model, shows the sources and says no model answered', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/ask`);
    await page.evaluate(() => localStorage.setItem('mmrag.settings', JSON.stringify({ provider: 'none' })));
    await page.reload();
    await page.getByLabel('Question').fill('a red circle');
    await page.getByLabel('Question').press('Enter');
    await page.getByText(/No language model answered/).waitFor();
    await page.locator('.answer .thumb img').first().waitFor();
    await shot(page, 'ask-no-model-light');
    await page.context().close();
  });
});
