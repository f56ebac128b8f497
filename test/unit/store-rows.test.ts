import { describe, expect, it } from 'vitest';
import { HeldPictures } from '../../src/ingest/picture-batches.js';
import { rowsToArrow } from '../../src/store/lance.js';
import type { StoreRow } from '../../src/store/store.js';

const row = (i: number, extra: Partial<StoreRow> = {}): StoreRow => ({
  id: `id-${i}`,
  version: 'v1',
  modality: 'text',
  type: 'markdown',
  source: '/notes/ünïcode – harbour.md',
  title: 'Harbour',
  section: `Section ${i}`,
  text: `Text ${i} with a ☃ and a 😀`,
  ingestedAt: 1_700_000_000_000 + i,
  vector: Float32Array.from([i, i + 0.5, -i]),
  textVector: Float32Array.from([i * 2, 0]),
  ...extra,
});

describe('rowsToArrow', () => {
  it('builds the item table column by column: strings (UTF-8), nulls, numbers and vectors as given', () => {
    const rows = [
      row(0),
      row(1, { modality: 'image', media: 'ab/abc.png', description: 'a red circle', location: { page: 3 } }),
      row(2),
    ];
    const table = rowsToArrow(rows, 3, 2);
    expect(table.numRows).toBe(3);
    const read = table.toArray().map((r) => r.toJSON() as Record<string, unknown>);
    expect(read.map((r) => r.id)).toEqual(['id-0', 'id-1', 'id-2']);
    expect(read[0]!.source).toBe('/notes/ünïcode – harbour.md');
    expect(read[2]!.text).toBe('Text 2 with a ☃ and a 😀');
    expect(read.map((r) => r.media)).toEqual([null, 'ab/abc.png', null]);
    expect(read.map((r) => r.description)).toEqual([null, 'a red circle', null]);
    expect(read.map((r) => r.location)).toEqual([null, '{"page":3}', null]);
    expect(read.map((r) => r.ingested_at)).toEqual([1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002]);
    expect(read[1]!.search_text).toContain('a red circle');
    const vectors = table.getChild('vector')!;
    expect(Array.from(vectors.get(2) as Float32Array)).toEqual([2, 2.5, -2]);
    expect(Array.from(table.getChild('text_vector')!.get(1) as Float32Array)).toEqual([2, 0]);
  });
});

describe('HeldPictures', () => {
  const picture = (bytes: number) => ({ data: new Uint8Array(bytes), width: 1, height: 1 });

  it('keeps decoded pictures up to its byte budget, counts a picture once, and frees on release', () => {
    const held = new HeldPictures(1000);
    const a = picture(600);
    const b = picture(600);
    expect(held.keep(a)).toBe(true);
    expect(held.keep(a)).toBe(true);
    expect(held.bytes).toBe(600);
    expect(held.keep(b)).toBe(false);
    held.release(a);
    expect(held.bytes).toBe(0);
    expect(held.keep(b)).toBe(true);
    held.release(a);
    expect(held.bytes).toBe(600);
  });
});
