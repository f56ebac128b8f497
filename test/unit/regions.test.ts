import { describe, expect, it } from 'vitest';
import { chunkText } from '../../src/ingest/chunk.js';
import { joinTextPieces, pictureBox, textPieceBox } from '../../src/ingest/loaders/pdf.js';
import {
  alignOcrWords,
  mergeLineBoxes,
  type PlacedText,
  placeChunks,
  traceText,
} from '../../src/ingest/regions.js';
import type { Box } from '../../src/types.js';

/** pdf.js's frame of an unrotated US Letter page at scale 1: y flipped, origin top left. */
const LETTER = { transform: [1, 0, 0, -1, 0, 792], width: 612, height: 792 };

describe('tracing chunks back to their pieces', () => {
  const pieces: PlacedText[] = [
    { text: '  The  quick ', boxes: [[0.1, 0.1, 0.3, 0.12]] },
    { text: 'brown\tfox', boxes: [[0.3, 0.1, 0.5, 0.12]], breakAfter: true },
    { text: 'jumps over', boxes: [[0.1, 0.13, 0.4, 0.15]], breakAfter: true },
    { text: '', breakAfter: true },
    { text: 'the lazy dog.', boxes: [[0.1, 0.16, 0.35, 0.18]] },
  ];

  it('gives exactly the chunks chunkText cuts from the joined text', () => {
    const joined = joinTextPieces(pieces.map((p) => ({ str: p.text, hasEOL: p.breakAfter })));
    for (const size of [8, 12, 20, 256]) {
      expect(placeChunks(pieces, size, 0.25).map((c) => c.text)).toEqual(chunkText(joined, size, 0.25));
    }
    const traced = traceText(pieces);
    expect(traced.text).toBe('The quick brown fox jumps over the lazy dog.');
    expect(traced.owners.length).toBe(traced.text.length);
  });

  it('boxes a chunk by the lines it covers, one box per line', () => {
    const [whole] = placeChunks(pieces, 256, 0.25);
    expect(whole!.boxes).toEqual([
      [0.1, 0.1, 0.5, 0.12],
      [0.1, 0.13, 0.4, 0.15],
      [0.1, 0.16, 0.35, 0.18],
    ]);
    const small = placeChunks(pieces, 12, 0);
    const dog = small.find((c) => c.text.includes('dog'))!;
    expect(dog.boxes).toEqual([[0.1, 0.16, 0.35, 0.18]]);
  });

  it('merges boxes on one line and keeps lines apart', () => {
    const boxes: Box[] = [
      [0.1, 0.1, 0.2, 0.12],
      [0.25, 0.101, 0.4, 0.121],
      [0.1, 0.2, 0.3, 0.22],
      [1.2, 0.3, 1.4, 0.32], // off the page
    ];
    expect(mergeLineBoxes(boxes)).toEqual([
      [0.1, 0.1, 0.4, 0.121],
      [0.1, 0.2, 0.3, 0.22],
    ]);
  });
});

describe('boxes from pdf.js positions', () => {
  it('puts a 12 pt line at its baseline, up by the ascent and down by the descent', () => {
    const box = textPieceBox(
      { str: 'Hello', transform: [12, 0, 0, 12, 72, 700], width: 30, fontName: 'f1' },
      { ascent: 0.75, descent: -0.25 },
      LETTER,
    )!;
    // Baseline 700 pt from the bottom: 92 pt from the top; ascent 9 pt above it, descent 3 pt below.
    const points = box.map((v, i) => v * (i % 2 === 0 ? 612 : 792));
    for (const [got, want] of points.map((v, i) => [v, [72, 83, 102, 95][i]!]))
      expect(got!).toBeCloseTo(want!, 1);
  });

  it('boxes rotated text around its rotated rectangle', () => {
    // Text running upwards (90 degrees), 10 pt, 50 pt long, from (100, 100).
    const box = textPieceBox(
      { str: 'Up', transform: [0, 10, -10, 0, 100, 100], width: 50 },
      undefined,
      LETTER,
    )!;
    const [x0, y0, x1, y1] = box.map((v, i) => v * (i % 2 === 0 ? 612 : 792));
    expect(x0!).toBeCloseTo(92, 1);
    expect(x1!).toBeCloseTo(102, 1);
    expect(y0!).toBeCloseTo(792 - 150, 1);
    expect(y1!).toBeCloseTo(792 - 100, 1);
  });

  it('boxes a picture by the transform it is drawn with', () => {
    expect(pictureBox([306, 0, 0, 396, 0, 396], LETTER)).toEqual([0, 0, 0.5, 0.5]);
  });
});

describe('OCR words matched to the cleaned text', () => {
  const word = (text: string, x: number, line: number): { text: string; box: Box } => ({
    text,
    box: [x, line * 0.1, x + 0.1, line * 0.1 + 0.05],
  });

  it('follows joined hyphenations and dropped junk, and boxes each chunk by its words', () => {
    const words = [
      word('The', 0.1, 1),
      word('exam-', 0.3, 1),
      word('ple', 0.1, 2),
      word('works', 0.3, 2),
      word('~~', 0.1, 3),
      word('fine', 0.1, 4),
    ];
    const pieces = alignOcrWords('The example works\nfine', words);
    expect(pieces.map((p) => p.text)).toEqual(['The', 'example', 'works', 'fine']);
    expect(pieces[1]!.boxes).toEqual([words[1]!.box, words[2]!.box]);
    const [chunk] = placeChunks(pieces, 256, 0.25);
    expect(chunk!.text).toBe('The example works fine');
    expect(chunk!.boxes).toHaveLength(3);
  });

  it('leaves a word it cannot find without a box', () => {
    const pieces = alignOcrWords('alpha beta', [word('alpha', 0.1, 1)]);
    expect(pieces[1]).toEqual({ text: 'beta', breakAfter: true });
  });
});
