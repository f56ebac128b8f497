/**
 * Whole pages as pictures, and where things are on them: a PDF and a slide deck whose figures are drawn as shapes
 * (made by LibreOffice in the test, no raster picture in them) are found by a picture query through their page
 * pictures, and a text hit's boxes hold the word where poppler's `pdftotext -bbox` says it is.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import type { Box, Hit } from '../../src/types.js';
import { FIXTURE_MODEL, ROOT, tempDir } from '../helpers/fixtures.js';
import {
  drawDocument,
  pdfImageRows,
  pdftotextWordBoxes,
  popplerAvailable,
  sofficeAvailable,
} from '../helpers/make-drawing.js';

const tools = sofficeAvailable() && popplerAvailable();
if (!tools)
  console.warn('pages.test.ts: skipped, it needs LibreOffice (soffice) and poppler-utils on the PATH');

/** A box holds another, give or take `slack` (a fraction of the page). */
function contains(outer: Box, inner: Box, slack = 0.004): boolean {
  return (
    outer[0] <= inner[0] + slack &&
    outer[1] <= inner[1] + slack &&
    outer[2] >= inner[2] - slack &&
    outer[3] >= inner[3] - slack
  );
}

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;
let pdf: string;
let deck: string;

beforeAll(async () => {
  if (!tools) return;
  tmp = tempDir();
  pdf = drawDocument(
    tmp.dir,
    'harbour-chart',
    'drawing',
    [
      {
        texts: [
          { text: 'Harbour marker chart', x: 2, y: 2, width: 17, height: 1.5, size: 24 },
          {
            text: 'Boats take on diesel at the fuel dock beside the old granary.',
            x: 2,
            y: 5,
            width: 17,
            height: 1,
          },
          {
            text: 'The harbour master paints one marker on each mooring post.',
            x: 2,
            y: 7,
            width: 17,
            height: 1,
          },
        ],
      },
      {
        texts: [{ text: 'Figure 1: the fuel dock marker', x: 2, y: 23, width: 17, height: 1 }],
        shapes: [{ kind: 'ellipse', fill: '#ff0000', x: 3, y: 5, width: 15, height: 15 }],
      },
    ],
    'pdf',
    'Harbour chart',
  );
  deck = drawDocument(
    tmp.dir,
    'harbour-deck',
    'presentation',
    [
      { texts: [{ text: 'Harbour signals: words only on this slide.', x: 2, y: 2, width: 22, height: 2 }] },
      {
        texts: [{ text: 'The fuel dock marker', x: 2, y: 1, width: 22, height: 1.5 }],
        shapes: [{ kind: 'ellipse', fill: '#ff0000', x: 8, y: 3.5, width: 11, height: 11 }],
      },
    ],
    'pptx',
  );
  kb = await openKnowledgeBase({ kb: join(tmp.dir, 'kb'), embed: { model: FIXTURE_MODEL } });
}, 120_000);

afterAll(async () => {
  await kb?.close();
  tmp?.cleanup();
});

describe.skipIf(!tools)('pages as pictures', () => {
  it('a PDF made by LibreOffice from shapes has no raster picture, yet "a red circle" finds its page 2', async () => {
    expect(pdfImageRows(pdf)).toEqual([]);
    const summary = await kb.ingest([pdf]);
    expect(summary.failed).toBe(0);
    const items = await kb.items(pdf);
    const pages = items.filter((i) => i.type === 'page');
    expect(pages.map((p) => [p.modality, p.location])).toEqual([
      ['image', { page: 1 }],
      ['image', { page: 2 }],
    ]);
    // The page's text is its picture's caption (its text form at levels 1 and 2, and for BM25).
    expect(pages[1]!.text).toBe('Figure 1: the fuel dock marker');
    const [record] = await kb.sources();
    expect(record!.type).toBe('pdf');

    const result = await kb.search('a red circle', { level: 3 });
    expect(result.images[0]).toMatchObject({ type: 'page', source: pdf, location: { page: 2 } });
    // The filter language knows page items.
    const only = await kb.search('a red circle', { where: 'type = page and page = 2' });
    expect(only.images.map((h) => h.location?.page)).toEqual([2]);
    expect(only.text).toEqual([]);
  });

  it("a text hit's boxes hold the word where pdftotext -bbox puts it", async () => {
    const words = pdftotextWordBoxes(pdf);
    for (const word of ['granary.', 'mooring', 'Figure']) {
      const truth = words.find((w) => w.word === word);
      expect(truth, word).toBeDefined();
      const query = word.replace(/\W/g, '');
      const result = await kb.search(query, { mode: 'bm25' });
      const hit: Hit | undefined = result.text.find((h) => h.text?.includes(query));
      expect(hit, query).toBeDefined();
      expect(hit!.location?.page).toBe(truth!.page);
      const boxes = hit!.location?.boxes ?? [];
      expect(boxes.length).toBeGreaterThan(0);
      expect(
        boxes.some((box) => contains(box, truth!.box)),
        `${word} at ${truth!.box} in ${JSON.stringify(boxes)}`,
      ).toBe(true);
      // One box per line, each about a line high (not the whole page).
      for (const box of boxes) expect(box[3] - box[1]).toBeLessThan(0.06);
    }
  });

  it('a slide deck drawn from shapes: "a red circle" finds its slide 2 as a page picture', async () => {
    const summary = await kb.ingest([deck]);
    expect(summary.failed).toBe(0);
    expect(summary.outcomes[0]!.warnings).toEqual([]);
    const pages = (await kb.items(deck)).filter((i) => i.type === 'page');
    expect(pages.map((p) => p.location)).toEqual([{ slide: 1 }, { slide: 2 }]);
    expect(pages[1]!.section).toBe('Slide 2');
    const result = await kb.search('a red circle', { where: 'source = harbour-deck.pptx' });
    expect(result.images[0]).toMatchObject({ type: 'page', source: deck, location: { slide: 2 } });
  });

  it('without LibreOffice, slides keep their text and the run says so once', () => {
    const second = join(tmp.dir, 'second-deck.pptx');
    execFileSync('cp', [deck, second]);
    const out = execFileSync(
      process.execPath,
      [
        join(ROOT, 'bin', 'mmrag.js'),
        'ingest',
        deck,
        second,
        '--kb',
        join(tmp.dir, 'kb-no-soffice'),
        '--json',
      ],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          MMRAG_SOFFICE: join(tmp.dir, 'no-such-soffice'),
          MMRAG_EMBED_MODEL: FIXTURE_MODEL,
        },
      },
    );
    const lines = out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { file?: string; warnings?: string[]; imageItems?: number });
    const files = lines.filter((l) => l.file);
    expect(files).toHaveLength(2);
    expect(files.map((f) => f.imageItems)).toEqual([0, 0]);
    const notices = files.flatMap((f) => f.warnings ?? []).filter((w) => /LibreOffice/.test(w));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/slides are not kept as pictures.*soffice/);
  });
});
