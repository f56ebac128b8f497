import { describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import { checkPdfStreams } from '../../src/ingest/pdf-guard.js';
import { makePdf } from '../helpers/make-pdf.js';
import { makeContentBombPdf, makePixelBombPdf } from '../robustness/hostile-files.js';

const MiB = 1024 * 1024;
const limits = { maxPartBytes: 8 * MiB, maxImagePixels: 100_000_000 };

describe('checkPdfStreams (issue 18, finding 3)', () => {
  it('passes an ordinary PDF, its content and picture streams', () => {
    const pdf = makePdf({
      title: 'Ordinary',
      pages: [
        {
          lines: ['Some text on the first page.'],
          images: [
            {
              pixels: { width: 64, height: 64, channels: 3, data: new Uint8Array(64 * 64 * 3).fill(200) },
              x: 72,
              y: 300,
              width: 64,
              height: 64,
            },
          ],
        },
        { lines: ['And the second page.'] },
      ],
    });
    expect(checkPdfStreams(pdf, limits, 'ordinary.pdf')).toEqual([]);
  });

  it('refuses a page whose content stream inflates past maxPartBytes, without inflating it all', () => {
    const bomb = makeContentBombPdf(600);
    expect(bomb.length).toBeLessThan(2 * MiB);
    const started = performance.now();
    let error: unknown;
    try {
      checkPdfStreams(bomb, limits, 'bomb.pdf');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MmragError);
    expect((error as MmragError).message).toBe(
      'bomb.pdf: refused: a stream of the PDF inflates past 8.0 MiB (ingest.maxPartBytes; a PDF bomb?)',
    );
    expect(performance.now() - started).toBeLessThan(5000);
    const large = makeContentBombPdf(20);
    expect(() => checkPdfStreams(large, limits, 'large.pdf')).toThrow(/inflates past 8\.0 MiB/);
    expect(() => checkPdfStreams(large, { ...limits, maxPartBytes: 32 * MiB }, 'large.pdf')).not.toThrow();
  });

  it('reports pictures over the pixel limit from their dictionaries, without decoding them', () => {
    const pdf = makePixelBombPdf(4, 20_000);
    expect(checkPdfStreams(pdf, limits, 'pixels.pdf')).toEqual(
      Array.from({ length: 4 }, () => ({ width: 20_000, height: 20_000 })),
    );
    expect(checkPdfStreams(pdf, { ...limits, maxImagePixels: 400_000_000 }, 'pixels.pdf')).toEqual([]);
  });
});
