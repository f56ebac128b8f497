// The viewer in headless Chromium: a PDF citation opens its page with the box drawn where the word is (checked against
// poppler's `pdftotext -bbox`), zoomable by keyboard; an audio hit and a video frame start the player at their time;
// page pictures show as page thumbnails; the answerability gate's "not found in your documents" and its setting.
// Screenshots (desktop and a 390 px phone, light and dark) go to test-artifacts/screenshots/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hit } from '../../src/types.js';
import { ROOT, tempDir } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { pdftotextWordBoxes, popplerAvailable } from '../helpers/make-drawing.js';
import { drawShapePng, makeToneWav, writeVtt } from '../helpers/make-media.js';
import { makePdf, redCircleSvg, svgToPixels } from '../helpers/make-pdf.js';
import { startTestServer, type TestServer } from '../server/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');
const ready = existsSync(CHROMIUM) && popplerAvailable();
if (!ready) console.warn('browser-viewer.test.ts: skipped, it needs /usr/bin/chromium and poppler-utils');

const QUESTION = 'Where does the granary stand?';

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
let server: TestServer;
let browser: Browser;
let pdf: string;
/** The number of the PDF passage about the granary among the question's sources. */
let granarySource: number;

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

async function shot(page: Page, name: string): Promise<void> {
  // Every picture in sight drawn first (thumbnails load after the results; lazy ones out of sight never do).
  await expect
    .poll(() =>
      page.evaluate(() =>
        Array.from(document.images)
          .filter((img) => {
            const r = img.getBoundingClientRect();
            return r.bottom > 0 && r.top < window.innerHeight && r.width > 0;
          })
          .every((img) => img.complete && img.naturalWidth > 0),
      ),
    )
    .toBe(true);
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

async function ask(page: Page, question: string): Promise<void> {
  await page.getByLabel('Question', { exact: true }).fill(question);
  await page.getByLabel('Question', { exact: true }).press('Enter');
}

/** Wait until the viewer's page picture has loaded. */
async function pageLoaded(page: Page): Promise<void> {
  await expect
    .poll(() =>
      page
        .locator('[data-testid="page-sheet"] img')
        .evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth),
    )
    .toBeGreaterThan(0);
}

/** The player's position once it has its metadata. */
async function playerTime(page: Page): Promise<number> {
  const player = page.getByTestId('player');
  await expect.poll(() => player.evaluate((el) => (el as HTMLMediaElement).readyState)).toBeGreaterThan(0);
  return player.evaluate((el) => (el as HTMLMediaElement).currentTime);
}

beforeAll(async () => {
  if (!ready) return;
  tmp = tempDir('mmrag-browser-viewer-');
  const circle = await svgToPixels(redCircleSvg(128), 3);
  pdf = join(tmp.dir, 'harbour-report.pdf');
  writeFileSync(
    pdf,
    makePdf({
      title: 'Harbour report',
      pages: [
        {
          lines: [
            'The harbour report covers the spring season and the work on the quay.',
            'The tides were higher than usual in April.',
          ],
        },
        {
          lines: [
            'Moorings were repainted in March.',
            'The old granary stands beside the fuel dock, next to the crane.',
            'The fuel dock marker is shown below.',
          ],
          images: [{ pixels: circle, x: 156, y: 150, width: 300, height: 300 }],
        },
      ],
    }),
  );
  const wav = await makeToneWav(join(tmp.dir, 'tour.wav'), 9);
  await writeVtt(join(tmp.dir, 'tour.vtt'), [
    {
      start: 0,
      end: 2.5,
      text: 'Welcome to the harbour tour, everyone. Please stay together on the quay, keep away from the edge, and follow the guide with the yellow umbrella past the fish market.',
    },
    {
      start: 4,
      end: 7,
      text: 'The lighthouse keeper rings the brass bell every day at noon, and on foggy evenings he lights the great lamp by hand, as his grandfather did before him.',
    },
  ]);
  // A video a browser plays (VP8 in WebM): a red circle for 4 s, then a blue square for 4 s.
  writeFileSync(join(tmp.dir, 'red.png'), await drawShapePng('circle', 'red'));
  writeFileSync(join(tmp.dir, 'blue.png'), await drawShapePng('square', 'blue'));
  const video = join(tmp.dir, 'signals.webm');
  execFileSync('ffmpeg', [
    '-y',
    '-hide_banner',
    '-loglevel',
    'error',
    ...['-loop', '1', '-framerate', '10', '-t', '4', '-i', join(tmp.dir, 'red.png')],
    ...['-loop', '1', '-framerate', '10', '-t', '4', '-i', join(tmp.dir, 'blue.png')],
    ...['-filter_complex', '[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p[v]', '-map', '[v]'],
    ...['-c:v', 'libvpx', '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8', video],
  ]);
  // Ingested from where they are (as `mmrag ingest` does): the recordings stay there to be played.
  const { openKnowledgeBase } = await import('../../src/kb.js');
  const kb = await openKnowledgeBase({
    kb: join(tmp.dir, 'kb'),
    embed: { model: join(ROOT, 'models', 'tiny-clip-shapes') },
  });
  const ingested = await kb.ingest([pdf, wav, video]);
  await kb.close();
  expect(ingested.failed).toBe(0);
  llm = await startLoopbackLlm({ reply: 'The granary stands beside the fuel dock [1].' });
  server = await startTestServer(join(tmp.dir, 'kb'), { provider: 'ollama', url: llm.url });
  // Which source number the granary passage gets, so that the model's answer cites it.
  const res = await fetch(`${server.url}/api/ask`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ question: QUESTION, llm: { provider: 'none' } }),
  });
  const sources = ((await res.json()) as { sources: Hit[] }).sources;
  granarySource = sources.findIndex((h) => h.modality === 'text' && h.text?.includes('granary')) + 1;
  expect(granarySource).toBeGreaterThan(0);
  llm.setReply(`The old granary stands beside the fuel dock [${granarySource}].`);
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
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await llm?.close();
  tmp?.cleanup();
});

describe.skipIf(!ready)('the viewer', () => {
  it('a PDF citation opens its page with the box drawn where the word is, zoomable by keyboard', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/ask`);
    await page.getByText('Ask your files').waitFor();
    await ask(page, QUESTION);
    const cite = page.locator(`.answer-text a[data-cite="${granarySource}"]`);
    await cite.waitFor({ timeout: 30_000 });
    await cite.click();
    const viewer = page.getByTestId('viewer');
    await viewer.waitFor();
    await pageLoaded(page);

    // The box drawn on the page holds the word where poppler finds it.
    const truth = pdftotextWordBoxes(pdf).find((w) => w.word === 'granary')!;
    expect(truth.page).toBe(2);
    const sheet = (await page.getByTestId('page-sheet').boundingBox())!;
    const boxes = await page.getByTestId('page-box').evaluateAll((els) =>
      els.map((el) => {
        const r = el.getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom];
      }),
    );
    expect(boxes.length).toBeGreaterThan(0);
    const word = [
      sheet.x + truth.box[0] * sheet.width,
      sheet.y + truth.box[1] * sheet.height,
      sheet.x + truth.box[2] * sheet.width,
      sheet.y + truth.box[3] * sheet.height,
    ];
    const slack = 2;
    expect(
      boxes.some(
        ([l, t, r, b]) =>
          l! <= word[0]! + slack &&
          t! <= word[1]! + slack &&
          r! >= word[2]! - slack &&
          b! >= word[3]! - slack,
      ),
      `the word at ${word} in ${JSON.stringify(boxes)}`,
    ).toBe(true);
    expect(await viewer.getByRole('heading').textContent()).toBe('Harbour report');
    await shot(page, 'viewer-pdf-citation-light');

    // Keyboard: the page zooms with + and fits with 0; Escape closes and gives the focus back to the source.
    await page.getByRole('region', { name: /^Page 2/ }).focus();
    await page.keyboard.press('+');
    await expect.poll(() => page.getByTestId('zoom').textContent()).toBe('150%');
    const wide = (await page.getByTestId('page-sheet').boundingBox())!;
    expect(wide.width).toBeGreaterThan(sheet.width * 1.4);
    await page.keyboard.press('0');
    await expect.poll(() => page.getByTestId('zoom').textContent()).toBe('100%');
    await page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.id)).toMatch(new RegExp(`-${granarySource}$`));
    await page.context().close();
  });

  it('a text card opens the same page from its button; phone and dark screenshots', async () => {
    for (const [scheme, width] of [
      ['dark', 1200],
      ['light', 390],
      ['dark', 390],
    ] as const) {
      const page = await newPage(scheme, width);
      await page.goto(`${server.url}/#/search`);
      await page.getByLabel('Search', { exact: true }).fill('granary');
      await page.getByLabel('Search', { exact: true }).press('Enter');
      const button = page.getByRole('button', { name: 'Show on page 2' }).first();
      await button.waitFor();
      await button.click();
      await pageLoaded(page);
      expect(await page.getByTestId('page-box').count()).toBeGreaterThan(0);
      // Nothing wider than the screen.
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      await shot(page, `viewer-pdf-${width < 500 ? 'phone' : 'desktop'}-${scheme}`);
      await page.context().close();
    }
  });

  it('an audio hit starts the player at its time', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/search`);
    await page.getByLabel('Search', { exact: true }).fill('lighthouse keeper');
    await page.getByLabel('Search', { exact: true }).press('Enter');
    const button = page.getByRole('button', { name: 'Play at 0:04' });
    await button.waitFor();
    await button.click();
    const time = await playerTime(page);
    expect(time).toBeGreaterThanOrEqual(3.9);
    expect(time).toBeLessThan(7);
    expect(await page.getByTestId('player').evaluate((el) => el.tagName)).toBe('AUDIO');
    await shot(page, 'viewer-audio-light');
    await page.context().close();
  });

  it('a video frame opens the video at its time', async () => {
    const page = await newPage('dark');
    await page.goto(`${server.url}/#/search`);
    await page.getByLabel('Filter').fill('source ~ signals.webm');
    await page.getByLabel('Search', { exact: true }).fill('a blue square');
    await page.getByLabel('Search', { exact: true }).press('Enter');
    const thumb = page.locator('.thumb').first();
    await thumb.waitFor();
    const hit = await fetch(
      `${server.url}/api/search?q=${encodeURIComponent('a blue square')}&where=${encodeURIComponent('source ~ signals.webm')}`,
    ).then((r) => r.json() as Promise<{ images: Hit[] }>);
    const start = hit.images[0]!.location!.start!;
    expect(start).toBeGreaterThanOrEqual(3.5);
    await thumb.getByRole('button', { name: /^Open the recording/ }).click();
    const time = await playerTime(page);
    expect(Math.abs(time - start)).toBeLessThan(0.5);
    expect(await page.getByTestId('player').evaluate((el) => el.tagName)).toBe('VIDEO');
    await shot(page, 'viewer-video-dark');
    await page.context().close();
  });

  it('page pictures show as page thumbnails and open as the page', async () => {
    const page = await newPage('light');
    await page.goto(`${server.url}/#/search`);
    await page.getByLabel('Filter').fill('type = page');
    await page.getByLabel('Search', { exact: true }).fill('harbour report');
    await page.getByLabel('Search', { exact: true }).press('Enter');
    await page.locator('.page-thumb').first().waitFor();
    expect(await page.locator('.page-thumb').count()).toBe(2);
    await shot(page, 'search-page-thumbnails-light');
    await page.locator('.page-thumb .thumb-open').first().click();
    await pageLoaded(page);
    expect(await page.getByTestId('page-box').count()).toBe(0);
    await page.context().close();
  });

  it('says plainly when the documents do not hold the answer, and the setting asks the model anyway', async () => {
    for (const [scheme, width] of [
      ['light', 1200],
      ['dark', 390],
    ] as const) {
      const page = await newPage(scheme, width);
      await page.goto(`${server.url}/#/ask`);
      await page.getByText('Ask your files').waitFor();
      const before = llm.chatRequests().length;
      await ask(page, 'What is the recipe for apple pie?');
      const notFound = page.getByTestId('not-found');
      await notFound.waitFor({ timeout: 30_000 });
      expect(await notFound.textContent()).toContain('Not found in your documents');
      await page.getByRole('heading', { name: 'Closest sources' }).waitFor();
      expect(llm.chatRequests().length).toBe(before);
      await shot(page, `ask-not-found-${width < 500 ? 'phone' : 'desktop'}-${scheme}`);
      if (width < 500) {
        await page.context().close();
        continue;
      }
      // This question only: the model is asked anyway.
      await notFound.getByRole('button', { name: 'Ask the model anyway' }).click();
      await page.getByText(/^Answered by ollama/).waitFor({ timeout: 30_000 });
      expect(llm.chatRequests().length).toBe(before + 1);
      expect(await page.getByTestId('not-found').count()).toBe(0);
      // The setting: every question goes to the model.
      await page.getByRole('button', { name: 'Settings' }).click();
      await page.getByLabel('When your documents do not say').selectOption('off');
      await ask(page, 'How do I configure a wireless router?');
      await expect.poll(() => llm.chatRequests().length, { timeout: 30_000 }).toBe(before + 2);
      await page.context().close();
    }
  });
});
