/**
 * Where a chunk of text is on its page: chunks are cut from text whose whitespace was collapsed, so each character
 * of that text keeps a note of the piece it came from (a run of a PDF's text layer, or a word OCR read); a chunk's
 * boxes are those of its pieces, merged into one box per line.
 */
import type { Box } from '../types.js';
import { type ChunkSpan, chunkSpans, collapseWhitespace } from './chunk.js';

/** A run of text with its boxes on the page (none: unknown). */
export interface PlacedText {
  text: string;
  boxes?: Box[];
  /** A line break (or a space) follows it: pdf.js `hasEOL`, or between OCR words. */
  breakAfter?: boolean;
}

/** A chunk of a page's text, with the boxes of the lines it covers (empty when its pieces had none). */
export interface PlacedChunk {
  text: string;
  boxes: Box[];
}

/** Text with its whitespace collapsed, and for each of its characters the piece it came from (-1: a space). */
export interface TracedText {
  text: string;
  owners: Int32Array;
}

const WHITESPACE = /\s/;

/**
 * The pieces joined (a line break after each piece that ends a line) with whitespace runs collapsed to one space and
 * the ends trimmed: the same text `chunkText` cuts from the joined pieces, traced back to its pieces.
 */
export function traceText(pieces: readonly PlacedText[]): TracedText {
  let text = '';
  const owners: number[] = [];
  let pendingSpace = false;
  const push = (ch: string, owner: number) => {
    if (WHITESPACE.test(ch)) {
      pendingSpace = text.length > 0;
      return;
    }
    if (pendingSpace) {
      text += ' ';
      owners.push(-1);
      pendingSpace = false;
    }
    text += ch;
    owners.push(owner);
  };
  pieces.forEach((piece, i) => {
    // By UTF-16 code unit, as the offsets of chunks count (the halves of a surrogate pair are never whitespace).
    for (let k = 0; k < piece.text.length; k++) push(piece.text[k]!, i);
    if (piece.breakAfter) push('\n', -1);
  });
  return { text, owners: Int32Array.from(owners) };
}

/** Round a fraction for storage: 1/10,000 of a page is a tenth of a pixel at 1,000 pixels. */
function round(value: number): number {
  return Math.round(Math.min(1, Math.max(0, value)) * 10_000) / 10_000;
}

/** A box clamped to the page and rounded; undefined when nothing of it is on the page. */
export function clampBox(box: Box): Box | undefined {
  const [x0, y0, x1, y1] = [
    Math.min(box[0], box[2]),
    Math.min(box[1], box[3]),
    Math.max(box[0], box[2]),
    Math.max(box[1], box[3]),
  ];
  if (x1 <= 0 || y1 <= 0 || x0 >= 1 || y0 >= 1) return undefined;
  const out: Box = [round(x0), round(y0), round(x1), round(y1)];
  return out[2] > out[0] && out[3] > out[1] ? out : undefined;
}

/**
 * Boxes on the same line (their heights overlap by at least half the smaller one) merged into one, in the order
 * their lines first appear.
 */
export function mergeLineBoxes(boxes: readonly Box[]): Box[] {
  const lines: Box[] = [];
  for (const box of boxes) {
    const height = box[3] - box[1];
    const line = lines.find((l) => {
      const overlap = Math.min(l[3], box[3]) - Math.max(l[1], box[1]);
      return overlap >= 0.5 * Math.min(height, l[3] - l[1]);
    });
    if (line) {
      line[0] = Math.min(line[0], box[0]);
      line[1] = Math.min(line[1], box[1]);
      line[2] = Math.max(line[2], box[2]);
      line[3] = Math.max(line[3], box[3]);
    } else lines.push([...box]);
  }
  return lines.map((l) => clampBox(l)).filter((b): b is Box => b !== undefined);
}

/** The boxes of the pieces a span of traced text covers, one per line. */
export function spanBoxes(
  span: Pick<ChunkSpan, 'start' | 'end'>,
  traced: TracedText,
  pieces: readonly PlacedText[],
) {
  const seen = new Set<number>();
  const boxes: Box[] = [];
  for (let i = span.start; i < span.end; i++) {
    const owner = traced.owners[i]!;
    if (owner < 0 || seen.has(owner)) continue;
    seen.add(owner);
    boxes.push(...(pieces[owner]?.boxes ?? []));
  }
  return mergeLineBoxes(boxes);
}

/** A page's pieces of text chunked as `chunkText` chunks them, each chunk with the boxes of its lines. */
export function placeChunks(pieces: readonly PlacedText[], size: number, overlap: number): PlacedChunk[] {
  const traced = traceText(pieces);
  return chunkSpans(traced.text, size, overlap).map((span) => ({
    text: span.text,
    boxes: spanBoxes(span, traced, pieces),
  }));
}

/** A word OCR read, with its box as fractions of the picture. */
export interface PlacedWord {
  text: string;
  box: Box;
}

/** How far ahead an OCR word is looked for when the cleaned text and the words disagree. */
const RESYNC_WORDS = 8;

/**
 * The words of cleaned OCR text (`cleanOcrText`: hyphenated line ends joined, lines without a letter or digit
 * dropped) matched to the words OCR read, in order, as placed pieces: a word joined from `exam-` and `ple` gets both
 * boxes; a word that matches nothing nearby gets none.
 */
export function alignOcrWords(text: string, words: readonly PlacedWord[]): PlacedText[] {
  const pieces: PlacedText[] = [];
  let w = 0;
  for (const token of collapseWhitespace(text).split(' ').filter(Boolean)) {
    let found = -1;
    let joined = false;
    for (let a = w; a < Math.min(words.length, w + RESYNC_WORDS); a++) {
      const word = words[a]!.text;
      if (word === token) {
        found = a;
        break;
      }
      const next = words[a + 1]?.text;
      if (next !== undefined && word.endsWith('-') && `${word.slice(0, -1)}${next}` === token) {
        found = a;
        joined = true;
        break;
      }
    }
    if (found < 0) {
      pieces.push({ text: token, breakAfter: true });
      continue;
    }
    const boxes = joined ? [words[found]!.box, words[found + 1]!.box] : [words[found]!.box];
    pieces.push({ text: token, boxes, breakAfter: true });
    w = found + (joined ? 2 : 1);
  }
  return pieces;
}
