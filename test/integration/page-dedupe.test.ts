/**
 * A page rendered whole and a picture cut from it are not two equal hits: whichever ranks first stands for the page
 * (docs/scoring.md, "Pages and the pictures on them").
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { pageOrItsPictures } from '../../src/retrieve/search.js';
import { FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { makePdf, redCircleSvg, svgToPixels } from '../helpers/make-pdf.js';

describe('one hit per page: the page or the pictures cut from it', () => {
  const item = (type: 'pdf' | 'page', page: number, source = 'a.pdf') => ({
    modality: 'image' as const,
    type,
    source,
    location: { page },
  });

  it('keeps whichever ranks first', () => {
    const keep = pageOrItsPictures();
    expect(
      [
        item('pdf', 2), // a picture of page 2 first: page 2's page picture goes
        item('page', 2),
        item('pdf', 2), // another picture of page 2 stays
        item('page', 3), // page 3 first: its pictures go
        item('pdf', 3),
        item('page', 3, 'b.pdf'), // another document's page 3 is another page
        { modality: 'image' as const, type: 'video' as const, source: 'v.mp4', location: { start: 5 } },
        { modality: 'text' as const, type: 'pdf' as const, source: 'a.pdf', location: { page: 3 } },
      ].map(keep),
    ).toEqual([true, false, true, true, false, true, true, true]);
  });
});

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;
let pdf: string;

beforeAll(async () => {
  tmp = tempDir();
  const circle = await svgToPixels(redCircleSvg(128), 3);
  pdf = join(tmp.dir, 'markers.pdf');
  writeFileSync(
    pdf,
    makePdf({
      title: 'Markers',
      pages: [
        { lines: ['The first page says nothing about any marker at all, only words.'] },
        {
          lines: ['The fuel dock marker is shown below.'],
          images: [{ pixels: circle, x: 106, y: 146, width: 400, height: 400 }],
        },
      ],
    }),
  );
  kb = await openKnowledgeBase({ kb: join(tmp.dir, 'kb'), embed: { model: FIXTURE_MODEL } });
  await kb.ingest([pdf]);
}, 60_000);

afterAll(async () => {
  await kb?.close();
  tmp?.cleanup();
});

describe('searching a PDF whose page shows a picture', () => {
  it('stores the page and the picture cut from it, each with its place', async () => {
    const pictures = (await kb.items(pdf)).filter((i) => i.modality === 'image');
    expect(pictures.map((i) => [i.type, i.location?.page])).toEqual([
      ['page', 1],
      ['pdf', 2],
      ['page', 2],
    ]);
  });

  it('returns page 2 once: the page or the picture cut from it, whichever ranks first', async () => {
    const all = { level: 3 as const, mode: 'vector' as const, image: { threshold: -1 } };
    const [page] = (await kb.search('a red circle', { ...all, where: 'type = page and page = 2' })).images;
    const [picture] = (await kb.search('a red circle', { ...all, where: 'type = pdf and modality = image' }))
      .images;
    expect(page!.type).toBe('page');
    expect(picture!.caption).toBe('Image on page 2 of Markers');
    expect(page!.score).not.toBe(picture!.score);
    const better = page!.score > picture!.score ? page! : picture!;

    const result = await kb.search('a red circle', all);
    const page2 = result.images.filter((h) => h.location?.page === 2);
    expect(page2.map((h) => h.id)).toEqual([better.id]);
    // Page 1 (words only) is still a hit of its own, after the better of the two.
    expect(result.images.map((h) => h.location?.page)).toEqual([2, 1]);
  });
});
