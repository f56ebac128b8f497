import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawShape, ROOT, tempDir, writeShapesPage } from '../helpers/fixtures.js';
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
/** A web site on loopback, to ingest a page by URL. */
let site: Server;
let siteUrl: string;

const ARTICLE = `<!doctype html><html><head><title>The lighthouse keeper</title></head><body>
<article><h1>The lighthouse keeper</h1>
<p>The lighthouse on the western cape is kept by one keeper, who climbs the hundred and twelve steps every evening at dusk to light the lamp and winds the clockwork that turns the lens.</p>
<p>In winter storms the keeper logs the wind every hour and sends the log to the harbour master by the Tuesday boat, together with the list of ships that passed the cape.</p>
<figure><img src="/lamp.png" alt="The orange lamp of the lighthouse"><figcaption>The lamp</figcaption></figure>
<p>The lamp burns paraffin and is cleaned each morning, so that its light can be seen twenty miles out at sea on a clear night.</p>
</article></body></html>`;

beforeAll(async () => {
  if (!hasChromium) return;
  tmp = tempDir('mmrag-browser-');
  await writeShapesPage(join(tmp.dir, 'site'));
  writeFileSync(
    join(tmp.dir, 'notes.md'),
    '# Harbour notes\n\nThe ferry to the island leaves from the north pier every morning at seven o clock sharp.\n',
  );
  llm = await startLoopbackLlm({ reply: REPLY, chunks: 6, chunkDelayMs: 40 });
  // The page to ingest by URL is on loopback: this server must be allowed to fetch from private addresses.
  server = await startTestServer(
    join(tmp.dir, 'kb'),
    { provider: 'ollama', url: llm.url },
    {},
    { ingest: { allowPrivateNetwork: true } },
  );
  const lamp = await drawShape('orange', 'circle');
  site = createServer((req, res) => {
    if (req.url === '/lighthouse.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(ARTICLE);
    } else if (req.url === '/lamp.png') {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(lamp);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
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
  if (site) await new Promise<void>((resolve) => site.close(() => resolve()));
  tmp?.cleanup();
});

interface OllamaChat {
  messages: Array<{ role: string; content: string; images?: string[] }>;
}
const picturesSent = (body: unknown) =>
  (body as OllamaChat).messages.reduce((n, m) => n + (m.images?.length ?? 0), 0);

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

/** The theme the app applied: it sets it in an effect after its first render, so wait until it has. */
async function themeOf(page: Page): Promise<string | undefined> {
  await page.waitForFunction(() => document.documentElement.dataset.theme !== undefined, undefined, {
    timeout: 10_000,
  });
  return page.evaluate(() => document.documentElement.dataset.theme);
}

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
    await page.getByLabel('Question', { exact: true }).fill('Which shape marks the fuel dock? a red circle');
    await page.getByLabel('Question', { exact: true }).press('Enter');
    const answer = page.locator('.answer-text').first();
    await expect
      .poll(async () => (await answer.textContent())?.trim(), { timeout: 30_000 })
      .toBe(REPLY.replace(/\[(\d+)\]/g, '$1'));
    await page.getByText('Answered by ollama/llama3.2-vision at level 3').waitFor();
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
    await page.getByLabel('Search', { exact: true }).fill('a blue square');
    await page.getByLabel('Search', { exact: true }).press('Enter');
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

  it('answers at level 1 when chosen in the settings: the footer says so and the model saw no pictures', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/ask`);
    await page.getByText('Ask your files').waitFor();
    await page.getByRole('button', { name: 'Settings' }).click();
    const settings = page.getByRole('complementary', { name: 'Settings' });
    await settings.waitFor();
    // Level 3 is the server's default and is checked until another is chosen.
    expect(await settings.getByRole('radio', { name: /^3: Multimodal/ }).isChecked()).toBe(true);
    await settings.getByRole('radio', { name: /^1: Text only/ }).check();
    await settings.getByLabel('Search mode').selectOption('hybrid');
    await shot(page, 'settings-light');
    expect(JSON.parse((await page.evaluate(() => localStorage.getItem('mmrag.settings')))!)).toMatchObject({
      level: '1',
      mode: 'hybrid',
    });
    await settings.getByRole('button', { name: 'Close' }).click();

    const before = llm.chatRequests().length;
    await page.getByLabel('Question', { exact: true }).fill('Which shape marks the fuel dock?');
    await page.getByLabel('Question', { exact: true }).press('Enter');
    await page.getByText('Answered by ollama/llama3.2-vision at level 1').waitFor({ timeout: 30_000 });
    const sent = llm.chatRequests()[before]!;
    expect(picturesSent(sent.body)).toBe(0);
    // The pictures are still listed as sources: level 1 retrieves them by their captions.
    await page.locator('.answer .thumb img').first().waitFor();

    // A filter that does not parse: the server's reason is shown, in the chat and in the settings.
    await page.getByRole('button', { name: 'Settings' }).click();
    await settings.getByLabel('Filter for questions (where)').fill('colour = red');
    await page.getByLabel('Question', { exact: true }).fill('Which shape marks customs?');
    await page.getByLabel('Question', { exact: true }).press('Enter');
    // The refusal is shown where the answer goes, in the turn of the question, not under the composer.
    const refusal = page.locator('.turn .answer .note-error');
    await refusal
      .filter({ hasText: 'The filter in the settings is not valid: Unknown field "colour"' })
      .waitFor();
    await settings.getByRole('alert').filter({ hasText: 'Unknown field "colour"' }).waitFor();
    await shot(page, 'ask-bad-filter-light');
    await settings.getByLabel('Filter for questions (where)').fill('modality = text');
    await refusal.getByRole('button', { name: 'Try again' }).click();
    await page
      .getByText(/Answered by .* at level 1/)
      .nth(1)
      .waitFor({ timeout: 30_000 });
    await page.context().close();
  });

  it('ingests a web page by its URL (from a loopback site) and lists it', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/library`);
    await page.locator('.sources-table').waitFor();
    const url = `${siteUrl}/lighthouse.html`;
    await page.getByLabel('Add a web page by its address').fill(url);
    await page.getByRole('button', { name: 'Add page' }).click();
    await page.getByText('Done: 1 page added').waitFor({ timeout: 30_000 });
    const row = page.locator('.sources-table tbody tr', { hasText: url });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/[1-9]\d* text · 1 pic/);
    await shot(page, 'library-url-light');

    // Search finds it, and a filter narrows the results to it.
    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Filter', { exact: true }).fill('type = nonsense');
    await page.getByLabel('Search', { exact: true }).fill('lighthouse keeper');
    await page.getByLabel('Search', { exact: true }).press('Enter');
    await page
      .getByRole('alert')
      .filter({ hasText: /nonsense/ })
      .waitFor();
    await page.getByLabel('Filter', { exact: true }).fill(`source = ${url}`);
    await page.getByLabel('Search', { exact: true }).press('Enter');
    await page.locator('.search-view .text-card').first().waitFor();
    for (const footer of await page.locator('.search-view .text-card footer').allTextContents())
      expect(footer).toBe('lighthouse.html');
    expect(await page.locator('.result-meta').textContent()).toMatch(/level 3 · hybrid/);
    // The score reads as a relevance (`cos 0.514`), and its button shows how each retriever scored the hit.
    const score = page.locator('.search-view .text-card .score').first();
    expect(await score.textContent()).toMatch(/^(cos|bm25|rerank) [\d.]+$/);
    expect(await score.getAttribute('title')).toMatch(/vector [\d.]+/);
    await shot(page, 'search-filter-light');
    await page.context().close();
  });

  it('looks right in the dark theme and on a phone-sized screen', async () => {
    const page = await newPage('dark');
    await page.goto(`${server.url}/#/ask`);
    await page.getByText('Ask your files').waitFor();
    expect(await themeOf(page)).toBe('dark');
    await page.getByLabel('Question', { exact: true }).fill('a red circle');
    await page.getByLabel('Question', { exact: true }).press('Enter');
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
    await page.getByLabel('Search', { exact: true }).fill('a green triangle');
    await page.getByLabel('Search', { exact: true }).press('Enter');
    await page.locator('.search-view .thumb img').first().waitFor();
    // The picture k from the settings (2) is used and remembered.
    expect(await page.locator('.search-view .thumb').count()).toBeLessThanOrEqual(2);
    await shot(page, 'search-dark');
    // The toggle switches to light and is remembered over the system preference.
    await page.getByRole('button', { name: 'Switch to the light theme' }).click();
    await page.reload();
    expect(await themeOf(page)).toBe('light');
    await page.context().close();

    const phone = await newPage('light', 390);
    await phone.goto(`${server.url}/#/ask`);
    await phone.getByLabel('Question', { exact: true }).fill('a red circle');
    await phone.getByLabel('Question', { exact: true }).press('Enter');
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
    await page.getByLabel('Question', { exact: true }).fill('a red circle');
    await page.getByLabel('Question', { exact: true }).press('Enter');
    await page.getByText(/No language model answered/).waitFor();
    await page.locator('.answer .thumb img').first().waitFor();
    await shot(page, 'ask-no-model-light');
    await page.context().close();
  });
});
