import { describe, expect, it } from 'vitest';
import { chunkText } from '../../src/ingest/chunk.js';
import { seededRandom as rng } from '../helpers/random.js';

describe('chunkText: hand-computed cases', () => {
  it('gives no chunk for empty or blank text', () => {
    expect(chunkText('')).toEqual([]);
    expect(chunkText(' \n\t  ')).toEqual([]);
  });

  it('collapses whitespace and keeps short text as one chunk', () => {
    expect(chunkText('  hello \n\n world\t ')).toEqual(['hello world']);
    expect(chunkText('a'.repeat(256))).toEqual(['a'.repeat(256)]);
  });

  it('cuts at the last space and starts the next chunk after it when the overlap holds no word start', () => {
    // back = floor(10 * 0.25) = 2: the 2 characters before each cut lie inside a word.
    expect(chunkText('aaa bbb ccc ddd eee', 10, 0.25)).toEqual(['aaa bbb', 'ccc ddd', 'eee']);
  });

  it('repeats the words inside the overlap at the start of the next chunk', () => {
    // back = 5: the next chunk starts at the first word start at or after (end - 5).
    expect(chunkText('aa bb cc dd ee ff', 10, 0.5)).toEqual(['aa bb cc', 'bb cc dd', 'cc dd ee', 'dd ee ff']);
  });

  it('keeps a chunk of exactly size characters when a space falls right at the limit', () => {
    expect(chunkText('abcd efgh ijkl', 9, 0)).toEqual(['abcd efgh', 'ijkl']);
  });

  it('cuts a word longer than size hard and continues it with the overlap', () => {
    expect(chunkText('abcdefghijklmnop', 10, 0.25)).toEqual(['abcdefghij', 'ijklmnop']);
    const long = 'x'.repeat(600);
    const chunks = chunkText(long);
    expect(chunks.map((c) => c.length)).toEqual([256, 256, 216]);
    expect(chunks.join('').length).toBe(600 + 2 * 64);
  });

  it('uses 256 characters and 25% overlap by default', () => {
    const words = Array.from({ length: 120 }, (_, i) => `word${i}`);
    const chunks = chunkText(words.join(' '));
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(256);
    expect(chunks[0]!.length).toBeGreaterThan(240);
    const firstOfSecond = chunks[1]!.split(' ')[0]!;
    expect(chunks[0]!.split(' ')).toContain(firstOfSecond);
  });
});

interface Case {
  text: string;
  size: number;
  overlap: number;
  maxWord: number;
}

function randomCase(random: () => number, maxWordCap?: number): Case {
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const size = int(8, 300);
  const overlap = [0, 0.1, 0.25, 0.5, 0.9][int(0, 4)]!;
  const maxWord = maxWordCap ?? (random() < 0.2 ? size * 2 : int(1, 15));
  const separators = [' ', '  ', '\n', '\t', ' \n '];
  const letters = 'abcdefghijklmnopqrstuvwxyzéß0123456789';
  const count = int(0, 200);
  let text = random() < 0.3 ? separators[int(0, 4)]! : '';
  for (let w = 0; w < count; w++) {
    const length = int(1, maxWord);
    let word = '';
    for (let i = 0; i < length; i++) word += letters[int(0, letters.length - 1)];
    text += word + separators[int(0, separators.length - 1)]!;
  }
  return { text, size, overlap, maxWord };
}

/**
 * Where each chunk sits in the normalised text: each after the previous one, at most `back` characters
 * before its end and with no gap but one space (the earliest such position that matches).
 */
function place(normal: string, chunks: string[], size: number, back: number): number[] {
  const starts: number[] = [];
  let prevStart = -1;
  let prevEnd = 0;
  for (const chunk of chunks) {
    let at = -1;
    const afterHardCut = prevStart >= 0 && normal[prevEnd] !== ' ' && normal[prevEnd - 1] !== ' ';
    for (let p = Math.max(prevStart + 1, prevEnd - back); p <= Math.min(prevEnd + 1, normal.length); p++) {
      const atWordStart = p === 0 || normal[p - 1] === ' ';
      const atWordEnd = p + chunk.length === normal.length || normal[p + chunk.length] === ' ';
      if (!afterHardCut && !atWordStart) continue;
      if (!atWordEnd && chunk.length !== size) continue;
      if (normal.startsWith(chunk, p)) {
        at = p;
        break;
      }
    }
    if (at < 0) throw new Error(`chunk "${chunk}" does not continue the previous one`);
    starts.push(at);
    prevStart = at;
    prevEnd = at + chunk.length;
  }
  return starts;
}

describe('chunkText: properties over random text', () => {
  it('covers the text in order, never splits a word that fits, never exceeds size, and terminates', () => {
    const random = rng(20240611);
    for (let n = 0; n < 400; n++) {
      const { text, size, overlap } = randomCase(random);
      const normal = text.replace(/\s+/g, ' ').trim();
      const chunks = chunkText(text, size, overlap);
      const context = JSON.stringify({ n, size, overlap, text: text.slice(0, 80) });

      if (normal.length === 0) {
        expect(chunks, context).toEqual([]);
        continue;
      }
      for (const chunk of chunks) {
        expect(chunk.length, context).toBeGreaterThan(0);
        expect(chunk.length, context).toBeLessThanOrEqual(size);
        expect(chunk, context).toBe(chunk.trim());
        expect(chunk.includes('  '), context).toBe(false);
      }
      const back = Math.min(size - 1, Math.floor(size * overlap));
      const starts = place(normal, chunks, size, back);
      expect(starts[0], context).toBe(0);
      const last = chunks.length - 1;
      expect(starts[last]! + chunks[last]!.length, context).toBe(normal.length);

      // Every word that fits in a chunk lies whole inside some chunk.
      const spans = starts.map((s, i) => [s, s + chunks[i]!.length] as const);
      const wordPattern = /\S+/g;
      for (let m = wordPattern.exec(normal); m; m = wordPattern.exec(normal)) {
        if (m[0].length > size) continue;
        const [ws, we] = [m.index, m.index + m[0].length];
        expect(
          spans.some(([s, e]) => s <= ws && we <= e),
          `${context} word "${m[0]}"`,
        ).toBe(true);
      }
    }
  });

  it('overlaps consecutive chunks when words are shorter than the overlap', () => {
    const random = rng(7);
    let checkedPairs = 0;
    for (let n = 0; n < 300; n++) {
      const { text, size, overlap } = randomCase(random, 6);
      const back = Math.floor(size * overlap);
      if (overlap > 0.5 || back < 8) continue;
      const normal = text.replace(/\s+/g, ' ').trim();
      const chunks = chunkText(text, size, overlap);
      const starts = place(normal, chunks, size, back);
      for (let i = 1; i < chunks.length; i++) {
        const prevEnd = starts[i - 1]! + chunks[i - 1]!.length;
        expect(starts[i]!, JSON.stringify({ n, size, overlap })).toBeLessThan(prevEnd);
        checkedPairs++;
      }
    }
    expect(checkedPairs).toBeGreaterThan(100);
  });

  it('overlaps the pieces of a word longer than size', () => {
    const random = rng(99);
    for (let n = 0; n < 50; n++) {
      const size = 8 + Math.floor(random() * 100);
      const word = 'q'.repeat(size * 3 + Math.floor(random() * size));
      const text = `start ${word} end`;
      const chunks = chunkText(text, size, 0.25);
      const starts = place(text, chunks, size, Math.floor(size * 0.25));
      expect(chunks[0]).toBe('start');
      // The chunk after a hard cut continues the cut word inside the overlap.
      let hardCuts = 0;
      for (let i = 2; i < chunks.length; i++) {
        const prevEnd = starts[i - 1]! + chunks[i - 1]!.length;
        if (text[prevEnd] === ' ' || prevEnd === text.length) continue; // cut at a word end: no overlap
        hardCuts++;
        expect(starts[i]!).toBeLessThan(prevEnd);
      }
      expect(hardCuts).toBeGreaterThanOrEqual(2);
    }
  });
});
