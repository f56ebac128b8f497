import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { drawShape, FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';

/** A static site: `index.html` whose figures live in `img/`, plus a picture no page uses. */
async function writeSite(dir: string): Promise<void> {
  mkdirSync(join(dir, 'img'), { recursive: true });
  writeFileSync(join(dir, 'img', 'red.png'), await drawShape('red', 'circle'));
  writeFileSync(join(dir, 'img', 'blue.png'), await drawShape('blue', 'square'));
  writeFileSync(join(dir, 'img', 'green.png'), await drawShape('green', 'triangle'));
  writeFileSync(
    join(dir, 'index.html'),
    `<!doctype html><html><head><title>Harbour signs</title></head><body>
<h1>Harbour signs</h1>
<p>Every berth in the harbour is marked with a painted sign that sailors learn by heart.</p>
<figure><img src="img/red.png"><figcaption>The fuel dock marker</figcaption></figure>
<figure><img src="img/blue.png" alt="The harbour office"></figure>
</body></html>`,
  );
}

describe('one picture, one item', () => {
  let tmp: ReturnType<typeof tempDir>;
  let kb: KnowledgeBase;
  let site: string;

  beforeAll(async () => {
    tmp = tempDir();
    site = join(tmp.dir, 'site');
    await writeSite(site);
    kb = await openKnowledgeBase({
      kb: join(tmp.dir, 'kb'),
      embed: { model: FIXTURE_MODEL },
      ingest: { ocr: false },
    });
  });

  afterAll(async () => {
    await kb?.close();
    tmp?.cleanup();
  });

  it('a picture copied in on its own earlier is replaced by the page that uses it', async () => {
    // A first run over the pictures alone ingests each as a standalone image ("No caption available").
    const first = await kb.ingest([join(site, 'img')]);
    expect(first.ingested).toBe(3);
    expect((await kb.search('a red circle')).images[0]?.caption).toBe('No caption available');

    const second = await kb.ingest([site]);
    const outcome = (name: string) => second.outcomes.find((o) => o.file.endsWith(name))!;
    expect(outcome('index.html')).toMatchObject({ status: 'ingested', imageItems: 2 });
    for (const name of ['red.png', 'blue.png']) {
      expect(outcome(name).status).toBe('skipped');
      expect(outcome(name).reason).toMatch(/a picture of .*index\.html, ingested with it \(its copy/);
    }
    expect(outcome('green.png').status).toBe('unchanged');
    const sources = (await kb.sources()).map((s) => s.source.slice(site.length + 1)).sort();
    expect(sources).toEqual(['img/green.png', 'index.html']);
  });

  it('a folder walk never adds the page pictures again, and search shows the captioned one once', async () => {
    const again = await kb.ingest([site]);
    expect(again.ingested).toBe(0);
    expect(again.outcomes.filter((o) => o.status === 'skipped')).toHaveLength(2);
    const { images } = await kb.search('a red circle', { image: { k: 5 } });
    expect(images[0]?.caption).toBe('The fuel dock marker');
    expect(images.filter((h) => h.caption === 'No caption available' && /red/.test(h.source))).toEqual([]);
  });

  it('a picture named on the command line is ingested as asked', async () => {
    const summary = await kb.ingest([join(site, 'img', 'red.png')]);
    expect(summary.ingested).toBe(1);
  });

  it('one result list never holds the same stored picture twice', async () => {
    // Two pages showing one picture: two items, one stored copy; search returns it once.
    const other = join(tmp.dir, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'sign.png'), await drawShape('purple', 'circle'));
    for (const name of ['a.html', 'b.html']) {
      writeFileSync(
        join(other, name),
        `<html><head><title>${name}</title></head><body><p>A page about the purple marker of the outer pier.</p><img src="sign.png" alt="The purple marker"></body></html>`,
      );
    }
    await kb.ingest([other]);
    const { images } = await kb.search('a purple circle', { image: { k: 5 } });
    const purple = images.filter((h) => h.caption === 'The purple marker');
    expect(purple).toHaveLength(1);
    expect(new Set(images.map((h) => h.image)).size).toBe(images.length);
  });
});
