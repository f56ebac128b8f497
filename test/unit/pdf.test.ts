import { describe, expect, it } from 'vitest';
import {
  hasPdfEndMarker,
  isScannedPageText,
  joinTextPieces,
  pdfImageToRawPixels,
  renderScale,
} from '../../src/ingest/loaders/pdf.js';
import { makePdf, pdfString } from '../helpers/make-pdf.js';

describe('joinTextPieces', () => {
  it('joins pieces, breaking lines where pdf.js saw an end of line', () => {
    expect(
      joinTextPieces([
        { str: 'Hello', hasEOL: false },
        { str: ' ', hasEOL: false },
        { str: 'world', hasEOL: true },
        {},
        { str: 'next   line', hasEOL: true },
        { str: '', hasEOL: true },
        { str: '', hasEOL: true },
        { str: '', hasEOL: true },
        { str: ' last ' },
      ]),
    ).toBe('Hello world\nnext line\n\nlast');
    expect(joinTextPieces([])).toBe('');
  });
});

describe('isScannedPageText', () => {
  it('treats pages with fewer than 20 non-space characters as scans', () => {
    expect(isScannedPageText('')).toBe(true);
    expect(isScannedPageText('  12  \n ')).toBe(true);
    expect(isScannedPageText('a b c d e f g h i j k l m n o p q r s')).toBe(true);
    expect(isScannedPageText('abcdefghij klmnopqrst')).toBe(false);
  });
});

describe('renderScale', () => {
  it('renders at the requested dpi unless that exceeds the pixel limit', () => {
    expect(renderScale(612, 792, 144, 1e9)).toBe(2);
    const scale = renderScale(612, 792, 144, 1_000_000);
    expect(612 * scale * 792 * scale).toBeCloseTo(1_000_000, 0);
    expect(renderScale(0, 0, 72, 10)).toBe(1);
  });
});

describe('pdfImageToRawPixels', () => {
  it('passes RGB and RGBA through and expands 1-bit grayscale rows', () => {
    const rgb = new Uint8ClampedArray([1, 2, 3, 4, 5, 6]);
    expect(pdfImageToRawPixels({ width: 2, height: 1, kind: 2, data: rgb })).toEqual({
      width: 2,
      height: 1,
      channels: 3,
      data: new Uint8Array([1, 2, 3, 4, 5, 6]),
    });
    expect(
      pdfImageToRawPixels({ width: 1, height: 1, kind: 3, data: new Uint8Array([9, 8, 7, 6]) })?.channels,
    ).toBe(4);
    // 10 pixels wide: 2 bytes per row; 1 = white.
    const bits = new Uint8Array([0b10100000, 0b01000000, 0b11111111, 0b11000000]);
    expect(pdfImageToRawPixels({ width: 10, height: 2, kind: 1, data: bits })?.data).toEqual(
      new Uint8Array([255, 0, 255, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]),
    );
  });

  it('refuses missing, short or unknown data', () => {
    expect(pdfImageToRawPixels({ width: 2, height: 2, kind: 2, data: new Uint8Array(5) })).toBeUndefined();
    expect(pdfImageToRawPixels({ width: 2, height: 2, kind: 2, data: null })).toBeUndefined();
    expect(pdfImageToRawPixels({ width: 2, height: 2, kind: 9, data: new Uint8Array(100) })).toBeUndefined();
    expect(pdfImageToRawPixels({ width: 0, height: 2, kind: 2, data: new Uint8Array(100) })).toBeUndefined();
  });
});

describe('test PDF writer', () => {
  it('writes a consistent xref table and an end marker', () => {
    const pdf = makePdf({ title: 'T (1)', pages: [{ lines: ['a \\ b'] }, {}] });
    const text = Buffer.from(pdf).toString('latin1');
    expect(text.startsWith('%PDF-1.4')).toBe(true);
    expect(hasPdfEndMarker(pdf)).toBe(true);
    expect(hasPdfEndMarker(pdf.subarray(0, pdf.length - 10))).toBe(false);
    const startxref = Number(/startxref\n(\d+)/.exec(text)![1]);
    expect(text.slice(startxref, startxref + 4)).toBe('xref');
    const offsets = [...text.slice(startxref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    offsets.forEach((offset, i) => {
      expect(text.slice(offset, offset + `${i + 1} 0 obj`.length)).toBe(`${i + 1} 0 obj`);
    });
    expect(pdfString('a (b) \\ é')).toBe('(a \\(b\\) \\\\ ?)');
  });
});
