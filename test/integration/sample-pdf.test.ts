/**
 * The bundled PDF of the eval set (samples/documents/harbour-lights.pdf): its figures are vector shapes, no raster
 * picture, so only its page pictures can find them; each page question of samples/eval/questions.jsonl finds its
 * page first with vector search.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { FIXTURE_MODEL, ROOT, tempDir } from '../helpers/fixtures.js';
import { pdfImageRows, popplerAvailable } from '../helpers/make-drawing.js';

const PDF = join(ROOT, 'samples', 'documents', 'harbour-lights.pdf');
/** The figure on each page, as the eval set asks for it. */
const FIGURES: Array<[query: string, page: number]> = [
  ['a green triangle', 2],
  ['an orange circle', 3],
  ['a purple square', 4],
];

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;

beforeAll(async () => {
  tmp = tempDir();
  kb = await openKnowledgeBase({ kb: join(tmp.dir, 'kb'), embed: { model: FIXTURE_MODEL } });
  const summary = await kb.ingest([PDF]);
  expect(summary.failed).toBe(0);
}, 120_000);

afterAll(async () => {
  await kb?.close();
  tmp?.cleanup();
});

describe('the sample PDF with drawn figures', () => {
  it.skipIf(!popplerAvailable())('holds no raster picture', () => {
    expect(pdfImageRows(PDF)).toEqual([]);
  });

  it('becomes one page picture per page and nothing else among the pictures', async () => {
    const pictures = (await kb.items(PDF)).filter((i) => i.modality === 'image');
    expect(pictures.map((p) => [p.type, p.location?.page])).toEqual([
      ['page', 1],
      ['page', 2],
      ['page', 3],
      ['page', 4],
    ]);
  });

  it.each(FIGURES)('"%s" finds page %i first with vector search', async (query, page) => {
    const result = await kb.search(query, { level: 3, mode: 'vector' });
    expect(result.images[0]).toMatchObject({ type: 'page', source: PDF, location: { page } });
  });

  it('the eval set asks these questions of this file', () => {
    const questions = readFileSync(join(ROOT, 'samples', 'eval', 'questions.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { query: string; relevant: string[] });
    for (const [query] of FIGURES)
      expect(questions.find((q) => q.query === query)?.relevant).toEqual(['harbour-lights.pdf']);
  });
});
