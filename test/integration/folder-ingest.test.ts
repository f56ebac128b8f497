import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestSummary } from '../../src/ingest/pipeline.js';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import type { StoredItem } from '../../src/types.js';
import { drawShape, FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { makeShapesVideo, makeSpeechWav, writeVtt } from '../helpers/make-media.js';
import { makeCsv, makeDocx, makePptx, makeXlsx, shapePng } from '../helpers/make-office.js';
import { makePdf, printedTextSvg, redCircleSvg, svgToPixels } from '../helpers/make-pdf.js';

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;
let folder: string;
let summary: IngestSummary;

const file = (name: string) => join(folder, name);

async function itemWith(source: string, word: string, modality?: 'text' | 'image'): Promise<StoredItem> {
  const items = (await kb.items(source)).filter((i) => !modality || i.modality === modality);
  const found = items.find((i) => i.text.includes(word));
  if (!found)
    throw new Error(`no item of ${source} contains ${word}: ${items.map((i) => i.text).join(' | ')}`);
  return found;
}

beforeAll(async () => {
  tmp = tempDir('mmrag-folder-');
  folder = join(tmp.dir, 'project');
  mkdirSync(join(folder, 'media'), { recursive: true });

  // Good files, each carrying a word no other file has.
  writeFileSync(
    file('report.pdf'),
    makePdf({
      title: 'Quarterly report',
      pages: [
        { lines: ['The Quasar programme met every target this quarter, ahead of the plan.'] },
        {
          lines: ['Figure: the logo.'],
          images: [{ pixels: await svgToPixels(redCircleSvg()), x: 100, y: 400, width: 128, height: 128 }],
        },
      ],
    }),
  );
  writeFileSync(
    file('notes.docx'),
    await makeDocx([
      { kind: 'heading', text: 'Budget' },
      { kind: 'paragraph', text: 'The Pelican fund pays for the new harbour crane and its operators.' },
      {
        kind: 'table',
        rows: [
          ['Item', 'Cost'],
          ['Crane', '1200'],
        ],
      },
    ]),
  );
  writeFileSync(
    file('deck.pptx'),
    await makePptx([
      {
        title: 'Welcome',
        body: ['An introduction to the season.'],
        notes: 'Remember to thank the Walrus club.',
      },
      {
        title: 'Plans',
        body: ['The Nebula telescope arrives in May.'],
        picture: { png: await shapePng('square', 'blue'), alt: 'blue square' },
      },
    ]),
  );
  writeFileSync(
    file('data.xlsx'),
    await makeXlsx([
      {
        name: 'Summary',
        rows: [
          ['Name', 'Total'],
          ['All', 10],
        ],
      },
      {
        name: 'Costs',
        rows: [
          ['Fruit', 'Price'],
          ['Apple', 1],
          ['Tangerine', 2],
          ['Pear', 3],
        ],
      },
    ]),
  );
  writeFileSync(
    file('list.csv'),
    makeCsv([
      ['Sweet', 'Origin'],
      ['Marzipan', 'Lubeck'],
      ['Nougat', 'Montelimar'],
    ]),
  );
  writeFileSync(file('media/blue.png'), await drawShape('blue', 'square'));
  writeFileSync(
    file('readme.md'),
    '# Readme\n\nThe Ocelot project keeps its pictures here.\n\n![A blue square](media/blue.png)\n',
  );
  writeFileSync(
    file('sign.png'),
    await sharp(Buffer.from(printedTextSvg('KUMQUAT')))
      .png()
      .toBuffer(),
  );
  await makeSpeechWav(file('talk.wav'), 'Welcome to the talk about the zeppelin.');
  await writeVtt(file('talk.vtt'), [
    { start: 0.5, end: 1.5, text: 'Welcome to the talk.' },
    { start: 1.5, end: 3.2, text: 'It is about the Zeppelin.' },
  ]);
  const work = join(tmp.dir, 'work');
  mkdirSync(work);
  await makeShapesVideo(file('clip.mp4'), work);
  await writeVtt(file('clip.vtt'), [{ start: 4.2, end: 6, text: 'Now a Gondola appears.' }]);

  // Bad files: each must fail alone, with its reason.
  writeFileSync(file('truncated.pdf'), makePdf({ pages: [{ lines: ['cut short'] }] }).subarray(0, 200));
  writeFileSync(file('empty.txt'), '');
  writeFileSync(file('fake.docx'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
  // A tiny PNG declaring 100 000 x 100 000 pixels.
  writeFileSync(
    file('huge.png'),
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } })
      .png()
      .toBuffer(),
  );
  const huge = Buffer.from(
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } })
      .png()
      .toBuffer(),
  );
  huge.writeUInt32BE(100_000, 16);
  huge.writeUInt32BE(100_000, 20);
  writeFileSync(file('huge.png'), huge);

  kb = await openKnowledgeBase({
    kb: join(tmp.dir, 'kb'),
    embed: { model: FIXTURE_MODEL },
    transcribe: { provider: 'none' },
    ingest: { maxImagePixels: 50_000_000 },
  });
  summary = await kb.ingest([folder]);
}, 240_000);

afterAll(async () => {
  await kb?.close();
  tmp?.cleanup();
});

describe('ingesting a folder of mixed real documents', () => {
  it('ingests every good file and reports each bad one with its reason', () => {
    const byFile = Object.fromEntries(summary.outcomes.map((o) => [o.file.slice(folder.length + 1), o]));
    for (const good of [
      'report.pdf',
      'notes.docx',
      'deck.pptx',
      'data.xlsx',
      'list.csv',
      'readme.md',
      'sign.png',
      'talk.wav',
      'clip.mp4',
    ]) {
      expect(byFile[good]?.status, `${good}: ${byFile[good]?.reason}`).toBe('ingested');
    }
    expect(byFile['truncated.pdf']).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/truncated/),
    });
    expect(byFile['empty.txt']).toMatchObject({ status: 'failed', reason: expect.stringMatching(/empty/) });
    expect(byFile['fake.docx']).toMatchObject({ status: 'failed', reason: expect.stringMatching(/docx/) });
    expect(byFile['huge.png']).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/pixels|limit/),
    });
    expect(summary.failed).toBe(4);
    // The readme's picture belongs to the readme: ingested with its alt text, not a second time on its own.
    expect(byFile['media/blue.png']).toMatchObject({
      status: 'skipped',
      reason: expect.stringMatching(/a picture of .*readme\.md/),
    });
    // The recordings' subtitle files are read through their recordings, not ingested a second time.
    expect(byFile['talk.vtt']).toBeUndefined();
    expect(byFile['clip.vtt']).toBeUndefined();
    expect(summary.byType.pdf).toMatchObject({ ingested: 1, failed: 1 });
  });

  it('keeps where each piece came from: page, section, slide, sheet and rows, time', async () => {
    // PDF passages and pictures also say where on the page they are (location.boxes).
    const quasar = (await itemWith(file('report.pdf'), 'Quasar')).location;
    expect(quasar).toMatchObject({ page: 1 });
    expect(quasar?.boxes?.length).toBeGreaterThan(0);
    // Both pages drawn whole (`page` pictures); page 2, with too little text, is taken for a scan: its page
    // picture stands for the logo on it.
    const pdfPictures = (await kb.items(file('report.pdf'))).filter((i) => i.modality === 'image');
    expect(pdfPictures.map((p) => [p.type, p.location?.page])).toEqual([
      ['page', 1],
      ['page', 2],
    ]);
    expect(await itemWith(file('notes.docx'), 'Pelican')).toMatchObject({ section: 'Budget', type: 'docx' });
    expect((await itemWith(file('notes.docx'), '| Crane')).text).toContain('| Item | Cost |');
    expect((await itemWith(file('deck.pptx'), 'Nebula')).location).toEqual({ slide: 2 });
    expect(await itemWith(file('deck.pptx'), 'Walrus')).toMatchObject({
      location: { slide: 1 },
      section: 'Welcome',
    });
    expect(await itemWith(file('data.xlsx'), 'Tangerine')).toMatchObject({
      location: { sheet: 'Costs', rows: [2, 4] },
    });
    expect((await itemWith(file('list.csv'), 'Marzipan')).location).toMatchObject({ rows: [2, 3] });
    expect(await itemWith(file('readme.md'), 'Ocelot')).toMatchObject({
      section: 'Readme',
      type: 'markdown',
    });
    expect((await itemWith(file('sign.png'), 'KUMQUAT')).type).toBe('image');
    expect((await itemWith(file('talk.wav'), 'Zeppelin')).location).toEqual({ start: 0.5, end: 3.2 });
    expect((await itemWith(file('clip.mp4'), 'Gondola', 'text')).location).toMatchObject({
      start: 4.2,
      end: 6,
    });
    // The frame shown while it was said carries the words in its caption.
    expect((await itemWith(file('clip.mp4'), 'Gondola', 'image')).location).toMatchObject({ start: 4 });
  });

  it('"a blue square" lands on the video frame at 0:04', async () => {
    const result = await kb.search('a blue square', { image: { k: 20 } });
    const frame = result.images.find((h) => h.type === 'video');
    expect(frame?.location?.start).toBeCloseTo(4, 0);
    const red = (await kb.search('a red circle', { image: { k: 20 } })).images.find(
      (h) => h.type === 'video',
    );
    expect(red?.location?.start).toBe(0);
  });

  it('re-running skips everything unchanged and fails the bad files again', async () => {
    const again = await kb.ingest([folder]);
    expect(again.ingested).toBe(0);
    expect(again.unchanged).toBe(9); // the nine files above (media/blue.png stays the readme's)
    expect(again.skipped).toBe(1);
    expect(again.failed).toBe(4);
  });
});
