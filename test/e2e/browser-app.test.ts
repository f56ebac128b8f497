// The web app as a person uses it, in headless Chromium: answers in Markdown with working citations, Stop,
// keyboard and focus, scores, uploads that survive a view switch, tokens, an empty knowledge base. Screenshots of
// every view (desktop and a 390 px phone, light and dark) go to test-artifacts/screenshots/.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { folderForm, startTestServer, type TestServer, waitForJob } from '../server/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');
const hasChromium = existsSync(CHROMIUM);
const TOKEN = 'harbour-token-4411';

const MARKDOWN = `The harbour marks its berths with **three shapes** [1]:

- a red circle marks the fuel dock [1]
- a blue square marks the customs office [4, 6]
- a green triangle marks the lifeboat station [3]

| shape | place |
| --- | --- |
| circle | fuel dock |
| square | customs |

Call the harbour master on \`VHF 12\`. The tide tables are in another document [42].

<img src="/x.png" onerror="window.__pwned = 1"><script>window.__pwned = 2</script>`;

const NOTES =
  '# Harbour notes\n\nThe ferry to the island leaves from the north pier every morning at seven o clock sharp.\n';

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
let server: TestServer;
let browser: Browser;
/** A site whose pages answer only when the test lets them: a job that holds the writer. */
let site: Server;
const held: ServerResponse[] = [];

async function newPage(scheme: 'light' | 'dark', width = 1200): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width, height: width < 500 ? 844 : 860 },
    colorScheme: scheme,
    ...(width < 500 ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => {
    throw err;
  });
  return page;
}

/** A screenshot, of the whole page from its top (so that the sticky bar is where a person sees it). */
async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  if (fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

const activeElement = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    return {
      tag: el?.tagName.toLowerCase(),
      id: el?.id ?? '',
      classes: el?.className ?? '',
      inDialog: Boolean(el?.closest('[role="dialog"]')),
    };
  });

async function ask(page: Page, question: string): Promise<void> {
  await page.getByLabel('Question', { exact: true }).fill(question);
  await page.getByLabel('Question', { exact: true }).press('Enter');
}

beforeAll(async () => {
  if (!hasChromium) return;
  tmp = tempDir('mmrag-browser-app-');
  await writeShapesPage(join(tmp.dir, 'site'));
  writeFileSync(join(tmp.dir, 'notes.md'), NOTES);
  // A few chunks, 200 ms apart: long enough to see the sources arrive first, and to press Stop.
  llm = await startLoopbackLlm({ reply: MARKDOWN, chunks: 10, chunkDelayMs: 200 });
  server = await startTestServer(
    join(tmp.dir, 'kb'),
    { provider: 'ollama', url: llm.url },
    {},
    { ingest: { allowPrivateNetwork: true } },
  );
  const form = folderForm(join(tmp.dir, 'site'), tmp.dir);
  form.append('files', new Blob([NOTES]), 'notes.md');
  const res = await fetch(`${server.url}/api/ingest`, { method: 'POST', body: form });
  await waitForJob(server.url, ((await res.json()) as { id: string }).id);
  site = createServer((_req, res) => {
    held.push(res);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
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
  for (const res of held) res.destroy();
  if (site) await new Promise<void>((resolve) => site.close(() => resolve()));
  await server?.stop();
  await llm?.close();
  tmp?.cleanup();
});

describe.skipIf(!hasChromium)('the web app, as a person uses it', () => {
  it('shows the sources before the answer, renders the answer as safe Markdown with working citations, and shows the exact prompt', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/ask`);
    await page.getByText('Ask your files').waitFor();
    const before = llm.chatRequests().length;
    await ask(page, 'Which shapes mark the harbour berths?');
    // The pictures are there while the answer is still being written.
    await page.locator('.answer[aria-busy="true"] .thumb img').first().waitFor();
    const partial = (await page.locator('.answer-text').count())
      ? await page.locator('.answer-text').textContent()
      : '';
    expect(partial ?? '').not.toContain('another document');
    await page.getByText(/^Answered by ollama\/llama3.2-vision at level 3$/).waitFor({ timeout: 30_000 });

    const answer = page.locator('.answer-text').first();
    expect(await answer.locator('strong').first().textContent()).toBe('three shapes');
    expect(await answer.locator('ul > li').count()).toBe(3);
    expect(await answer.locator('table tbody tr').count()).toBe(2);
    expect(await answer.locator('code').textContent()).toBe('VHF 12');
    // Nothing the model (or a document it repeats) writes can run or load anything.
    expect(await answer.locator('img, script').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    // [1] links to source 1; [4, 6] to 4 and 6; [42] has no source and says so.
    const turnId = /src-(\d+)-1$/.exec(
      (await answer.locator('a[data-cite="1"]').first().getAttribute('href'))!,
    )![1];
    expect(
      await answer.locator('a[data-cite]').evaluateAll((links) => links.map((a) => a.textContent)),
    ).toEqual(['1', '1', '4', '6', '3']);
    const missing = answer.locator('.cite-missing');
    expect(await missing.textContent()).toBe('42?');
    expect(await missing.getAttribute('aria-label')).toContain('does not exist');

    // The exact prompt, and the pictures attached, in the order the model got them.
    await page.getByRole('button', { name: 'Show the prompt' }).click();
    const sent = llm.chatRequests()[before]!.body as {
      messages: Array<{ content: string; images?: string[] }>;
    };
    const last = sent.messages.at(-1)!;
    expect((await page.locator('.prompt-text').textContent())?.trim()).toBe(last.content.trim());
    expect(await page.locator('.attached img').count()).toBe(last.images?.length ?? 0);
    expect(await page.locator('.attached img').count()).toBeGreaterThan(0);
    await expect
      .poll(() =>
        page
          .locator('.attached img')
          .first()
          .evaluate((img) => (img as HTMLImageElement).naturalWidth),
      )
      .toBeGreaterThan(0);
    expect(turnId).toBeTruthy();
    await page.context().close();
  });

  it('Stop keeps the partial answer, marks it stopped, and asks nothing more', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/ask`);
    await page.getByText('Ask your files').waitFor();
    const before = llm.chatRequests().length;
    await ask(page, 'Which shapes mark the harbour berths?');
    await page.locator('.answer-text').first().waitFor();
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.getByText('Stopped: the answer above is incomplete.').waitFor();
    const kept = await page.locator('.answer-text').first().textContent();
    expect(kept?.length).toBeGreaterThan(0);
    // Long enough for a second question to have reached the model, had one been sent.
    await page.waitForTimeout(1500);
    expect(llm.chatRequests().length).toBe(before + 1);
    expect(await page.locator('.turn').count()).toBe(1);
    expect(await page.locator('.answer-text').first().textContent()).toBe(kept);
    expect(await page.getByLabel('Question', { exact: true }).inputValue()).toBe('');
    expect(await page.getByRole('button', { name: 'Ask', exact: true }).isDisabled()).toBe(true);
    await page.context().close();
  });

  it('works by keyboard: a citation moves the focus to its source, scores open by keyboard, the picture viewer keeps and returns the focus', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/ask`);
    await ask(page, 'a red circle');
    await page.getByText(/^Answered by/).waitFor({ timeout: 30_000 });

    // Enter on citation 1 (a text source): the focus moves to that source.
    await page.locator('.answer-text a[data-cite="1"]').first().focus();
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await activeElement(page)).id).toMatch(/^src-\d+-1$/);
    expect((await activeElement(page)).tag).toBe('article');

    // Its number is a button that shows how each retriever scored it; Escape closes it.
    const number = page.locator('.answer .text-card .num').first();
    await number.focus();
    await page.keyboard.press('Enter');
    const breakdown = page.locator('.answer .text-card .score-pop').first();
    await breakdown.waitFor();
    expect(await breakdown.textContent()).toMatch(/vector [\d.]+/);
    expect(await number.getAttribute('aria-expanded')).toBe('true');
    await shot(page, 'ask-score-breakdown-light', false);
    await page.keyboard.press('Escape');
    await expect.poll(() => breakdown.isVisible()).toBe(false);

    // The picture viewer: focus goes in, Tab cannot leave it, Escape gives it back to the thumbnail.
    await page.locator('.answer .thumb-open').first().focus();
    await page.keyboard.press('Enter');
    await page.locator('.lightbox img').waitFor();
    await expect.poll(async () => (await activeElement(page)).inDialog).toBe(true);
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      expect((await activeElement(page)).inDialog).toBe(true);
    }
    await page.keyboard.press('Shift+Tab');
    expect((await activeElement(page)).inDialog).toBe(true);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('.lightbox').count()).toBe(0);
    expect((await activeElement(page)).classes).toContain('thumb-open');
    await page.context().close();
  });

  it('shows a readable relevance as the badge of a result, not the fused rank score', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/search`);
    await page.getByLabel('Search', { exact: true }).fill('a blue square');
    await page.getByLabel('Search', { exact: true }).press('Enter');
    const badge = page.locator('.search-view .thumb .badge').first();
    await badge.waitFor();
    expect(await badge.textContent()).toMatch(/^(cos|bm25|rerank) \d+\.\d+$/);
    await badge.click();
    expect(await page.locator('.search-view .thumb .score-pop').first().textContent()).toMatch(/rank score/);
    await page.context().close();
  });

  it('library: the same file again is unchanged; progress within a large file; a queued upload waits; progress survives a view switch and a reload; no sideways scrolling on a phone', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/library`);
    await page.locator('.sources-table').waitFor();
    const notes = join(tmp.dir, 'notes.md');
    await page.getByTestId('file-input').setInputFiles(notes);
    await page.getByText('Done: 1 file unchanged').waitFor({ timeout: 30_000 });
    expect(await page.locator('.file-row.status-unchanged .file-status').first().textContent()).toMatch(
      /^Unchanged · \d+ passages?, 0 pictures$/,
    );

    // A page that does not answer yet holds the writer; a large file uploaded now waits its turn.
    const { port } = site.address() as AddressInfo;
    const holding = await fetch(`${server.url}/api/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ urls: [`http://127.0.0.1:${port}/tides.html`] }),
    });
    expect(holding.status).toBe(202);
    const big = join(tmp.dir, 'tide-tables.md');
    writeFileSync(
      big,
      Array.from(
        { length: 24_000 },
        (_, i) =>
          `Day ${i}: high water at the north pier at ${(i * 7) % 24}:${String((i * 13) % 60).padStart(2, '0')}, low water six hours later; the ferry keeps to the table.`,
      ).join('\n\n'),
    );
    await page.getByTestId('file-input').setInputFiles(big);
    const card = page.locator('.upload-card', { hasText: 'tide-tables.md' });
    await card
      .getByText('Waiting: tide-tables.md is next after the upload in progress')
      .waitFor({ timeout: 30_000 });

    // Away and back: the card is still there; after a reload it comes back from the server's list of jobs.
    await page.getByRole('link', { name: 'Ask' }).click();
    await page.getByRole('link', { name: 'Library' }).click();
    await card.getByText(/^Waiting/).waitFor();
    await page.reload();
    await card.getByText(/^Waiting/).waitFor();
    await shot(page, 'library-waiting-light');

    // Let the held page fail: the large file's turn comes, and its items are counted as they are embedded.
    for (const res of held.splice(0)) {
      res.writeHead(404);
      res.end();
    }
    const bar = card.locator('.file-progress');
    await bar.waitFor({ timeout: 60_000 });
    const first = Number(await bar.getAttribute('aria-valuenow'));
    const total = Number(await bar.getAttribute('aria-valuemax'));
    expect(total).toBeGreaterThan(1000);
    expect(await card.locator('.file-status').first().textContent()).toMatch(
      /^Embedding [\d,]+ of [\d,]+ items \(\d+%\)$/,
    );
    // Every open view of the library shows the same progress: desktop and phone, light and dark.
    const views: Array<[Page, string]> = [[page, 'library-progress-light']];
    for (const [scheme, width, name] of [
      ['dark', 1200, 'library-progress-dark'],
      ['light', 390, 'library-progress-phone-light'],
      ['dark', 390, 'library-progress-phone-dark'],
    ] as const) {
      const other = await newPage(scheme, width);
      await other.goto(`${server.url}/#/library`);
      views.push([other, name]);
    }
    for (const [view, name] of views) {
      await view.locator('.upload-card .file-progress').waitFor({ timeout: 30_000 });
      await shot(view, name);
    }
    await expect
      .poll(async () => Number((await bar.getAttribute('aria-valuenow').catch(() => null)) ?? total), {
        timeout: 30_000,
      })
      .toBeGreaterThan(first);
    await card.getByText('Done: 1 file added').waitFor({ timeout: 120_000 });

    // On a phone nothing is wider than the screen (the table scrolls inside its card).
    const phone = views[2]![0];
    await phone.locator('.sources-table').waitFor();
    await phone.getByText('Done: 1 file added').first().waitFor({ timeout: 30_000 });
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot(phone, 'library-phone-light');
    for (const [view] of views) await view.context().close();
  }, 240_000);

  it('screenshots: Ask with a Markdown answer, citations and the prompt open; Search; desktop and phone, light and dark', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      for (const width of [1200, 390]) {
        const suffix = `${width < 500 ? 'phone-' : ''}${scheme}`;
        const page = await newPage(scheme, width);
        await page.goto(`${server.url}/#/ask`);
        await ask(page, 'Which shapes mark the harbour berths?');
        await page.getByText(/^Answered by/).waitFor({ timeout: 30_000 });
        await page
          .locator('.answer .thumb img')
          .first()
          .evaluate((img) => (img as HTMLImageElement).decode());
        // The README's picture (docs/images/ask.png) is the light one: a window tall enough for the whole
        // answer, so that the question box sits at its bottom as it does on a screen.
        if (width === 1200) {
          const height = await page.evaluate(() => document.documentElement.scrollHeight);
          await page.setViewportSize({ width, height: height + 40 });
          await shot(page, `ask-markdown-${scheme}`, false);
          await page.setViewportSize({ width, height: 860 });
        }
        await page.getByRole('button', { name: 'Show the prompt' }).click();
        await page.locator('.prompt-text').waitFor();
        await shot(page, `ask-prompt-${suffix}`);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);

        await page.getByRole('link', { name: 'Search' }).click();
        await page.getByLabel('Search', { exact: true }).fill('a red circle');
        await page.getByLabel('Search', { exact: true }).press('Enter');
        await page.locator('.search-view .thumb img').first().waitFor();
        await page.locator('.search-view .text-card .score').first().click();
        await shot(page, `search-${suffix}`);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        await page.context().close();
      }
    }
  }, 180_000);
});

describe.skipIf(!hasChromium)('the web app with a token', () => {
  let guarded: TestServer;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir('mmrag-browser-token-');
    await writeShapesPage(join(dir.dir, 'site'));
    guarded = await startTestServer(join(dir.dir, 'kb'), { provider: 'none' }, { token: TOKEN });
    const res = await fetch(`${guarded.url}/api/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: folderForm(join(dir.dir, 'site'), dir.dir),
    });
    await waitForJob(guarded.url, ((await res.json()) as { id: string }).id, {
      authorization: `Bearer ${TOKEN}`,
    });
  });

  afterAll(async () => {
    await guarded?.stop();
    dir?.cleanup();
  });

  it('says so when a token is wrong, keeps the focus in the dialog, and gives it back to the page when the token is accepted', async () => {
    const page = await newPage('light');
    await page.goto(`${guarded.url}/#/search`);
    const dialog = page.getByRole('dialog', { name: 'This server needs a token' });
    await dialog.waitFor();
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      expect((await activeElement(page)).inDialog).toBe(true);
    }
    await page.getByLabel('Token', { exact: true }).fill('not-the-token');
    await page.getByLabel('Token', { exact: true }).press('Enter');
    await dialog
      .getByRole('alert')
      .filter({ hasText: 'That is not the token this server was started with' })
      .waitFor();
    expect(await page.getByLabel('Token', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await shot(page, 'token-wrong-light', false);
    await page.getByLabel('Token', { exact: true }).fill(TOKEN);
    await page.getByLabel('Token', { exact: true }).press('Enter');
    await expect.poll(() => dialog.count()).toBe(0);
    const focused = await activeElement(page);
    expect(focused.tag).not.toBe('body');
    expect(focused.id).toBe('main');
    await page.context().close();
  });

  it('pictures load after a browser restart, with the token kept in the browser (the picture cookie is renewed)', async () => {
    // A new browser context has no cookies: the browser was closed and opened again.
    const page = await newPage('light');
    await page.addInitScript((token) => localStorage.setItem('mmrag.token', token), TOKEN);
    await page.goto(`${guarded.url}/#/search`);
    await page.getByLabel('Search', { exact: true }).fill('a red circle');
    await page.getByLabel('Search', { exact: true }).press('Enter');
    const thumb = page.locator('.search-view .thumb img').first();
    await thumb.waitFor();
    await expect
      .poll(() =>
        thumb.evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth),
      )
      .toBeGreaterThan(0);
    expect(await page.getByRole('dialog').count()).toBe(0);
    // The cookie is out of reach of scripts.
    expect(await page.evaluate(() => document.cookie)).not.toContain('mmrag');
    await page.context().close();
  });
});

describe.skipIf(!hasChromium)('the web app on an empty knowledge base with no model running', () => {
  let empty: TestServer;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir('mmrag-browser-empty-');
    await writeShapesPage(join(dir.dir, 'site'));
    // `auto` finds no Ollama on this port: no model answers.
    empty = await startTestServer(join(dir.dir, 'kb'), { provider: 'auto', url: 'http://127.0.0.1:9' });
  });

  afterAll(async () => {
    await empty?.stop();
    dir?.cleanup();
  });

  it('says the knowledge base is empty in Search and Ask; once it has files, points to Settings when no model answers', async () => {
    const page = await newPage('light');
    await page.goto(`${empty.url}/#/search`);
    await page.getByText('Nothing to search yet').waitFor();
    await page.getByLabel('Search', { exact: true }).fill('a red circle');
    await page.getByLabel('Search', { exact: true }).press('Enter');
    await page.getByRole('heading', { name: 'Your knowledge base is empty' }).waitFor();
    expect(await page.getByText('lower the thresholds').count()).toBe(0);

    await page.getByRole('link', { name: 'Ask' }).click();
    await ask(page, 'Which shape marks the fuel dock?');
    await page.getByText('Your knowledge base is empty, so there was nothing to answer from.').waitFor({
      timeout: 30_000,
    });
    expect(await page.getByText('The closest sources are listed below').count()).toBe(0);

    // With files, a question the documents answer finds no model: the note says what to do, in this app's terms.
    const form = folderForm(join(dir.dir, 'site'), dir.dir);
    const res = await fetch(`${empty.url}/api/ingest`, { method: 'POST', body: form });
    await waitForJob(empty.url, ((await res.json()) as { id: string }).id);
    await page.reload();
    await ask(page, 'Which shape marks the fuel dock?');
    const note = page.locator('.answer .note-info').last();
    await note.getByText(/No language model answered/).waitFor();
    expect(await note.textContent()).not.toContain('--llm');
    await note.getByRole('button', { name: 'Open Settings' }).click();
    await page.getByRole('complementary', { name: 'Settings' }).waitFor();
    await shot(page, 'ask-empty-no-model-light');
    await page.context().close();
  });
});
