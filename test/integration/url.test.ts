import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadUrl } from '../../src/ingest/loaders/url.js';
import { rejection as failure, images, texts } from '../helpers/items.js';
import { type LoaderContextOverrides, testLoaderContext } from '../helpers/loader-context.js';

/** The test server listens on loopback, which the product refuses by default. */
const makeContext = (overrides: LoaderContextOverrides = {}) =>
  testLoaderContext({ allowPrivateNetwork: true, ...overrides });

const paragraph = (topic: string) =>
  `<p>The ${topic} of the zephyrine lighthouse keepers was recorded in careful logbooks, describing ` +
  'storms, passing ships, the colour of the sea at dawn and the small repairs made to the great lamp ' +
  'every winter, so that later generations could learn how the coast had changed over the centuries.</p>';

const ARTICLE_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Lighthouse keepers | Coastal Times</title></head>
<body>
  <header><nav><ul><li><a href="/">Home navcrumb</a></li><li><a href="/news">News navcrumb</a></li>
    <li><a href="/sport">Sport navcrumb</a></li><li><a href="/about">About navcrumb</a></li></ul></nav></header>
  <div class="ad-banner sponsored"><p><a href="/buy">Buy adwidget cheap watches now, limited offer today</a></p></div>
  <main>
    <article>
      <h1>Lighthouse keepers</h1>
      ${paragraph('daily life')}
      ${paragraph('training')}
      <figure><img src="/img/lamp.png" alt="A red lamp on the tower"><figcaption>The lamp</figcaption></figure>
      <h2>The last keeper</h2>
      ${paragraph('retirement')}
      ${paragraph('legacy')}
    </article>
  </main>
  <aside class="sidebar"><h3>Trending</h3><ul><li><a href="/x">Trending sidebarword story about the weekend weather</a></li></ul></aside>
  <footer><p>Copyright footerword Coastal Times. All rights reserved. Contact us, privacy policy, cookies.</p></footer>
</body></html>`;

let server: Server;
let base: string;
let png: Buffer;

beforeAll(async () => {
  png = await sharp(
    Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>',
    ),
  )
    .png()
    .toBuffer();
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const hops = /^\/hop\/(\d+)$/.exec(url.pathname);
    if (url.pathname === '/article') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(ARTICLE_PAGE);
    } else if (url.pathname === '/img/lamp.png') {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(png);
    } else if (hops) {
      const n = Number(hops[1]);
      res.writeHead(302, { location: n > 1 ? `/hop/${n - 1}` : '/article' });
      res.end();
    } else if (url.pathname === '/loop') {
      res.writeHead(301, { location: '/loop' });
      res.end();
    } else if (url.pathname === '/untyped-page') {
      res.end(ARTICLE_PAGE);
    } else if (url.pathname === '/untyped-text') {
      res.end('just some words, no markup');
    } else if (url.pathname === '/data.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"not":"a page"}');
    } else if (url.pathname === '/file.pdf') {
      res.writeHead(200, { 'content-type': 'application/pdf' });
      res.end('%PDF-1.4\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('loadUrl', () => {
  it('extracts the article text and its image, not the boilerplate', async () => {
    const ctx = makeContext();
    const { items, title, finalUrl } = await loadUrl(`${base}/article`, ctx);
    expect(finalUrl).toBe(`${base}/article`);
    expect(title).toContain('Lighthouse keepers');

    const allText = texts(items)
      .map((i) => i.text)
      .join(' ');
    expect(allText).toContain('zephyrine lighthouse keepers');
    for (const topic of ['daily life', 'training', 'retirement', 'legacy']) expect(allText).toContain(topic);
    for (const boilerplate of ['navcrumb', 'adwidget', 'sidebarword', 'footerword']) {
      expect(allText).not.toContain(boilerplate);
    }
    expect(texts(items).some((i) => i.section === 'The last keeper' && i.text.includes('retirement'))).toBe(
      true,
    );

    const imageItems = images(items);
    expect(imageItems).toHaveLength(1);
    expect(imageItems[0]!.caption).toBe('A red lamp on the tower');
    expect(imageItems[0]!.picture.origin).toBe(`${base}/img/lamp.png`);
    expect(Buffer.from(imageItems[0]!.picture.bytes).equals(png)).toBe(true);
    expect(ctx.warnings).toEqual([]);
  });

  it('refuses a loopback URL when the private network is not allowed', async () => {
    const error = await failure(loadUrl(`${base}/article`, makeContext({ allowPrivateNetwork: false })));
    expect(error.code).toBe('private_address');
    expect(error.message).toContain('127.0.0.1');
  });

  it('follows a few redirects and reports the final URL', async () => {
    const { items, finalUrl } = await loadUrl(`${base}/hop/3`, makeContext());
    expect(finalUrl).toBe(`${base}/article`);
    expect(texts(items).length).toBeGreaterThan(0);
  });

  it('gives up on a redirect loop', async () => {
    const error = await failure(loadUrl(`${base}/loop`, makeContext()));
    expect(error.code).toBe('too_many_redirects');
  });

  it('refuses a response that is not HTML, saying what it was', async () => {
    for (const [path, type] of [
      ['/data.json', 'application/json'],
      ['/file.pdf', 'application/pdf'],
    ]) {
      const error = await failure(loadUrl(`${base}${path}`, makeContext()));
      expect(error.code).toBe('not_html');
      expect(error.message).toContain(`${base}${path}`);
      expect(error.message).toContain(type);
    }
  });

  it('sniffs a response without a Content-Type', async () => {
    const { items } = await loadUrl(`${base}/untyped-page`, makeContext());
    expect(texts(items).some((i) => i.text.includes('zephyrine'))).toBe(true);
    const error = await failure(loadUrl(`${base}/untyped-text`, makeContext()));
    expect(error.code).toBe('not_html');
  });

  it('reports an HTTP error status', async () => {
    const error = await failure(loadUrl(`${base}/nowhere`, makeContext()));
    expect(error.message).toContain('404');
  });
});
