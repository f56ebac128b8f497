import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { drawShape, FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';

let tmp: ReturnType<typeof tempDir>;
let server: Server;
let base: string;
let png: Buffer;

const ARTICLE = `<!doctype html><html><head><title>Harbour news</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a> <a href="/contact">Contact</a></nav>
<article><h1>The new lighthouse</h1>
<p>The new lighthouse at the harbour mouth was lit for the first time on Sunday evening, after two years of work.</p>
<p>Its lamp is a red circle of glass that can be seen twenty nautical miles out to sea on a clear night.</p>
<figure><img src="/lamp.png" alt="The red lamp"><figcaption>The lamp</figcaption></figure>
<p>The keepers will live in the cottage beside it, as the old keepers did a century ago, and log every ship.</p>
</article><footer>Copyright the Harbour Gazette, all rights reserved, no reuse.</footer></body></html>`;

beforeAll(async () => {
  tmp = tempDir('mmrag-url-');
  png = await drawShape('red', 'circle');
  server = createServer((req, res) => {
    if (req.url === '/news') res.writeHead(200, { 'content-type': 'text/html' }).end(ARTICLE);
    else if (req.url === '/lamp.png') res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  tmp.cleanup();
});

async function open(allowPrivateNetwork: boolean): Promise<KnowledgeBase> {
  return openKnowledgeBase({
    kb: join(tmp.dir, 'kb'),
    embed: { model: FIXTURE_MODEL },
    ingest: { allowPrivateNetwork },
  });
}

describe('web pages by URL', () => {
  it('refuses loopback addresses unless allowed', async () => {
    const kb = await open(false);
    try {
      const summary = await kb.ingest([`${base}/news`]);
      expect(summary.failed).toBe(1);
      expect(summary.outcomes[0]!.reason).toMatch(/private|loopback/i);
    } finally {
      await kb.close();
    }
  });

  it('ingests the main content and its pictures, with the URL as the source', async () => {
    const kb = await open(true);
    try {
      const summary = await kb.ingest([`${base}/news`]);
      expect(summary.outcomes[0]).toMatchObject({ status: 'ingested', type: 'html', imageItems: 1 });
      const items = await kb.items(`${base}/news`);
      expect(items.some((i) => i.text.includes('twenty nautical miles'))).toBe(true);
      expect(items.some((i) => i.text.includes('Copyright'))).toBe(false);
      const hit = (await kb.search('a red circle')).images[0]!;
      expect(hit).toMatchObject({ source: `${base}/news`, caption: 'The red lamp' });
      expect((await kb.ingest([`${base}/news`])).unchanged).toBe(1);
    } finally {
      await kb.close();
    }
  });
});

describe('--prune', () => {
  it('removes sources inside the given folders whose files are gone', async () => {
    const kb = await open(false);
    try {
      const site = join(tmp.dir, 'site');
      const page = await writeShapesPage(site);
      await kb.ingest([site]);
      expect((await kb.sources()).map((s) => s.source)).toContain(page);
      rmSync(page);
      const summary = await kb.ingest([site], { prune: true });
      expect(summary.pruned).toEqual([page]);
      expect((await kb.sources()).map((s) => s.source)).not.toContain(page);
      // A URL source outside the folder is untouched.
      expect((await kb.sources()).map((s) => s.source)).toContain(`${base}/news`);
    } finally {
      await kb.close();
    }
  });
});
