import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTesseractOcr } from '../../src/enrich/ocr.js';
import type { OcrEngine } from '../../src/enrich/types.js';
import { MmragError } from '../../src/errors.js';
import { PdfLoader } from '../../src/ingest/loaders/pdf.js';
import { decodeToRgb, sniffImageMime } from '../../src/media/image-decode.js';
import { embeddedPictures, pagePictures, texts } from '../helpers/items.js';
import { testLoaderContext } from '../helpers/loader-context.js';
import { makePdf, printedTextSvg, redCircleSvg, svgToPixels } from '../helpers/make-pdf.js';

/** Mean red, green, blue of an RGB picture. */
function meanColour(rgb: { data: Uint8Array }): [number, number, number] {
  const sums = [0, 0, 0];
  for (let i = 0; i < rgb.data.length; i++) sums[i % 3]! += rgb.data[i]!;
  const n = rgb.data.length / 3;
  return [sums[0]! / n, sums[1]! / n, sums[2]! / n];
}

let threePages: Uint8Array;
let ocr: OcrEngine;

beforeAll(async () => {
  const circle = await svgToPixels(redCircleSvg(128), 3);
  const scan = await svgToPixels(printedTextSvg('QUOKKA', 900, 220, 96), 1);
  threePages = makePdf({
    title: 'Field Notes',
    pages: [
      {
        lines: [
          'The platypusword appears only on the first page of this document.',
          'A second line of text.',
        ],
      },
      {
        lines: ['Figure 1 shows a red circle drawn for the test.'],
        images: [{ pixels: circle, x: 100, y: 300, width: 200, height: 200 }],
      },
      { images: [{ pixels: scan, x: 36, y: 500, width: 540, height: 132 }] },
    ],
  });
  ocr = createTesseractOcr();
});

afterAll(async () => {
  await ocr?.dispose();
});

describe('PdfLoader', () => {
  it('reads text, embedded pictures and OCRs scanned pages, each with its page', async () => {
    const ctx = testLoaderContext({ ocr });
    const items = await new PdfLoader().load({ path: '/docs/notes.pdf', bytes: threePages }, ctx);

    const page1 = texts(items).filter((i) => i.location?.page === 1);
    expect(page1.some((i) => i.text.includes('platypusword'))).toBe(true);
    expect(
      texts(items)
        .filter((i) => i.text.includes('platypusword'))
        .every((i) => i.location?.page === 1),
    ).toBe(true);
    for (const item of items) {
      expect(item.title).toBe('Field Notes');
      expect(item.section).toBe(`Page ${item.location?.page}`);
    }

    const embedded = embeddedPictures(items);
    expect(embedded.map((i) => i.location?.page)).toEqual([2]);
    expect(embedded[0]!.caption).toBe('Image on page 2 of Field Notes');
    expect(sniffImageMime(embedded[0]!.picture.bytes)).toBe('image/png');
    const rgb = await decodeToRgb(embedded[0]!.picture.bytes, { maxPixels: 1e8 });
    expect([rgb.width, rgb.height]).toEqual([128, 128]);
    const centre = (64 * 128 + 64) * 3;
    expect([...rgb.data.subarray(centre, centre + 3)]).toEqual([255, 0, 0]);

    // Every page is also a picture of itself; its caption is the page's text (read by OCR on the scanned page).
    const pages = pagePictures(items);
    expect(pages.map((i) => i.location)).toEqual([{ page: 1 }, { page: 2 }, { page: 3 }]);
    expect(pages[0]!.caption).toContain('platypusword');
    expect(pages[1]!.caption).toBe('Figure 1 shows a red circle drawn for the test.');
    const scanned = pages.filter((i) => i.location?.page === 3);
    expect(scanned[0]!.caption).toContain('QUOKKA');
    const rendered = await decodeToRgb(pages[0]!.picture.bytes, { maxPixels: 1e8 });
    // Letter size with its long side 1024 pixels.
    expect([rendered.width, rendered.height]).toEqual([791, 1024]);
    const page3 = await decodeToRgb(scanned[0]!.picture.bytes, { maxPixels: 1e8 });
    // Letter size at 150 dpi.
    expect(page3.width).toBe(1275);
    expect(page3.height).toBe(1650);
    const [r, g, b] = meanColour(page3);
    expect(Math.min(r, g, b)).toBeLessThan(254); // the printed word made it onto the rendered page

    const ocrText = texts(items).filter((i) => i.location?.page === 3);
    expect(ocrText.map((i) => i.text).join(' ')).toContain('QUOKKA');
    // The words' boxes from OCR: inside the scanned picture, drawn at (36, 500) pt, 540 x 132 pt, on the page.
    const scanArea = [36 / 612, (792 - 632) / 792, 576 / 612, (792 - 500) / 792];
    const quokka = ocrText.find((i) => i.text.includes('QUOKKA'))!;
    expect(quokka.location?.boxes?.length).toBeGreaterThan(0);
    for (const [x0, y0, x1, y1] of quokka.location!.boxes!) {
      expect(x0).toBeGreaterThanOrEqual(scanArea[0]!);
      expect(y0).toBeGreaterThanOrEqual(scanArea[1]!);
      expect(x1).toBeLessThanOrEqual(scanArea[2]!);
      expect(y1).toBeLessThanOrEqual(scanArea[3]!);
      expect(x1 - x0).toBeGreaterThan(0.2);
    }
    expect(texts(items).some((i) => i.location?.page !== 3 && i.text.includes('QUOKKA'))).toBe(false);
    expect(ctx.warnings).toEqual([]);
    expect(readdirSync(process.cwd()).filter((f) => f.endsWith('.traineddata'))).toEqual([]);
  });

  it('keeps the scanned page picture and warns when OCR is off', async () => {
    const ctx = testLoaderContext();
    const items = await new PdfLoader().load({ path: '/docs/notes.pdf', bytes: threePages }, ctx);
    expect(texts(items).filter((i) => i.location?.page === 3)).toEqual([]);
    expect(embeddedPictures(items).map((i) => i.location?.page)).toEqual([2]);
    expect(pagePictures(items).map((i) => [i.location?.page, i.caption])).toEqual([
      [1, expect.stringContaining('platypusword')],
      [2, 'Figure 1 shows a red circle drawn for the test.'],
      [3, 'Page 3 (scanned)'],
    ]);
    expect(ctx.warnings).toHaveLength(1);
    expect(ctx.warnings[0]).toMatch(/notes\.pdf: page 3 has no text layer and OCR is off/);
  });

  it('uses the file name as title when the PDF has none, and chunks long pages', async () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`);
    const lines = Array.from({ length: 20 }, (_, i) => words.slice(i * 10, i * 10 + 10).join(' '));
    const pdf = makePdf({ pages: [{ lines: ['short first page with enough text'] }, { lines }] });
    const items = await new PdfLoader().load(
      { path: '/docs/untitled.pdf', bytes: pdf },
      testLoaderContext({ chunkSize: 100 }),
    );
    expect(items.every((i) => i.title === 'untitled.pdf')).toBe(true);
    const page2 = texts(items).filter((i) => i.location?.page === 2);
    expect(page2.length).toBeGreaterThan(5);
    expect(page2.every((i) => i.text.length <= 100)).toBe(true);
    expect(page2[0]!.text.startsWith('word0 word1')).toBe(true);
    expect(page2.at(-1)!.text.endsWith('word199')).toBe(true);
  });

  it('extracts JPEG (DCTDecode) and grayscale pictures', async () => {
    const { default: sharp } = await import('sharp');
    const blue = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#0000ff' } })
      .jpeg({ quality: 90 })
      .toBuffer();
    const grey = { width: 64, height: 48, channels: 1 as const, data: new Uint8Array(64 * 48).fill(100) };
    const pdf = makePdf({
      pages: [
        {
          lines: ['A page holding a photo and a grey patch, with words.'],
          images: [
            {
              pixels: { jpeg: new Uint8Array(blue), width: 120, height: 80, channels: 3 },
              x: 50,
              y: 400,
              width: 240,
              height: 160,
            },
            { pixels: grey, x: 50, y: 100, width: 128, height: 96 },
          ],
        },
      ],
    });
    const items = await new PdfLoader().load({ path: '/docs/photo.pdf', bytes: pdf }, testLoaderContext());
    const pictures = embeddedPictures(items);
    // Each picture's box: where its transform puts it on the 612 x 792 point page, from the top left.
    expect(pictures.map((p) => p.location)).toEqual([
      { page: 1, boxes: [[0.0817, 0.2929, 0.4739, 0.4949]] },
      { page: 1, boxes: [[0.0817, 0.7525, 0.2908, 0.8737]] },
    ]);
    const decoded = await Promise.all(pictures.map((p) => decodeToRgb(p.picture.bytes, { maxPixels: 1e8 })));
    expect(decoded.map((d) => [d.width, d.height])).toEqual([
      [120, 80],
      [64, 48],
    ]);
    const [r, g, b] = meanColour(decoded[0]!);
    expect(b).toBeGreaterThan(240);
    expect(Math.max(r, g)).toBeLessThan(15);
    expect(meanColour(decoded[1]!)).toEqual([100, 100, 100]);
  });

  it('skips tiny embedded pictures', async () => {
    const icon = await svgToPixels(redCircleSvg(16), 3);
    const pdf = makePdf({
      pages: [
        {
          lines: ['A page with a tiny icon on it and some text.'],
          images: [{ pixels: icon, x: 0, y: 0, width: 16, height: 16 }],
        },
      ],
    });
    const items = await new PdfLoader().load({ path: '/docs/icon.pdf', bytes: pdf }, testLoaderContext());
    expect(embeddedPictures(items)).toEqual([]);
    expect(pagePictures(items)).toHaveLength(1);
    expect(texts(items)).toHaveLength(1);
  });

  it('fails password-protected PDFs clearly', async () => {
    const pdf = makePdf({
      pages: [{ lines: ['secret text on the only page of this file'] }],
      passwordProtected: true,
    });
    const err = await new PdfLoader()
      .load({ path: '/docs/locked.pdf', bytes: pdf }, testLoaderContext())
      .catch((e) => e);
    expect(err).toBeInstanceOf(MmragError);
    expect(err.message).toMatch(/locked\.pdf.*password-protected/);
    expect(err.code).toBe('encrypted');
  });

  it('fails malformed, truncated and empty PDFs clearly', async () => {
    const loader = new PdfLoader();
    const fails = (name: string, bytes: Uint8Array) =>
      loader.load({ path: `/docs/${name}`, bytes }, testLoaderContext()).then(
        () => undefined,
        (err: unknown) => err,
      );
    const encode = (text: string) => new TextEncoder().encode(text);

    const notPdf = await fails(
      'text.pdf',
      encode('this is not a PDF at all, just text pretending to be one'),
    );
    expect(notPdf).toBeInstanceOf(MmragError);
    expect((notPdf as MmragError).message).toMatch(/^\/docs\/text\.pdf: not a PDF/);

    const cut = await fails('cut.pdf', threePages.subarray(0, Math.floor(threePages.length * 0.6)));
    expect(cut).toBeInstanceOf(MmragError);
    expect((cut as MmragError).message).toMatch(/^\/docs\/cut\.pdf: the PDF is truncated/);
    expect((cut as MmragError).hint).toMatch(/incomplete/);

    const damaged = await fails(
      'damaged.pdf',
      encode('%PDF-1.4\n1 0 obj << /Type /Nothing >> endobj\n%%EOF\n'),
    );
    expect(damaged).toBeInstanceOf(MmragError);
    expect((damaged as MmragError).message).toMatch(/^\/docs\/damaged\.pdf: /);

    const empty = await fails('empty.pdf', new Uint8Array());
    expect(empty).toBeInstanceOf(MmragError);
    expect((empty as MmragError).message).toBe('/docs/empty.pdf: the file is empty');
  });

  it('refuses PDFs with more pages than the limit', async () => {
    const pdf = makePdf({
      pages: Array.from({ length: 5 }, (_, i) => ({ lines: [`page number ${i + 1} of five pages`] })),
    });
    const ctx = testLoaderContext({ limits: { maxPages: 3 } });
    const err = await new PdfLoader().load({ path: '/docs/long.pdf', bytes: pdf }, ctx).catch((e) => e);
    expect(err).toBeInstanceOf(MmragError);
    expect(err.message).toMatch(/long\.pdf: 5 pages, over the limit of 3/);
    expect(err.code).toBe('too_large');
  });

  it('keeps pdf.js quiet on the console, even for damaged files', async () => {
    const printed: unknown[][] = [];
    const spies = (['log', 'warn', 'error', 'info', 'debug'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        printed.push(args);
      }),
    );
    try {
      const loader = new PdfLoader();
      // Damaged xref: pdf.js has to rebuild it (it warns about that at higher verbosity).
      const broken = Buffer.from(threePages);
      const at = broken.lastIndexOf('xref');
      broken.write('XXXX', at, 'latin1');
      const items = await loader.load(
        { path: '/docs/broken-xref.pdf', bytes: new Uint8Array(broken) },
        testLoaderContext(),
      );
      expect(texts(items).some((i) => i.text.includes('platypusword') && i.location?.page === 1)).toBe(true);
      await loader
        .load({ path: '/docs/cut.pdf', bytes: threePages.subarray(0, 900) }, testLoaderContext())
        .catch(() => {});
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(printed).toEqual([]);
  });
});
