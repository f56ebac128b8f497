import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { formatRelevance } from '../../src/retrieve/relevance.js';
import { FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';

describe('scores in hybrid search', () => {
  let tmp: ReturnType<typeof tempDir>;
  let kb: KnowledgeBase;

  beforeAll(async () => {
    tmp = tempDir();
    await writeShapesPage(
      join(tmp.dir, 'site'),
      'The quartermaster keeps the zanzibarian ledger in the tower.',
    );
    kb = await openKnowledgeBase({
      kb: join(tmp.dir, 'kb'),
      embed: { model: FIXTURE_MODEL },
      ingest: { ocr: false },
    });
    await kb.ingest([join(tmp.dir, 'site')]);
  });

  afterAll(async () => {
    await kb?.close();
    tmp?.cleanup();
  });

  it('every hit carries its vector score, BM25 hits included', async () => {
    const { text, images } = await kb.search('customs office marker');
    for (const hit of [...text, ...images]) expect(hit.scores?.vector, hit.id).toBeTypeOf('number');
    // The caption's words find the blue square through BM25 whatever its cosine.
    expect(images.some((h) => h.caption === 'Customs office marker' && h.scores?.bm25 !== undefined)).toBe(
      true,
    );
  });

  it('a picture threshold set for the query holds in hybrid and BM25 modes, not only in vector mode', async () => {
    for (const mode of ['hybrid', 'bm25', 'vector'] as const) {
      const { images } = await kb.search('customs office marker', { mode, image: { threshold: 0.97 } });
      expect(images, mode).toEqual([]);
    }
    const loose = await kb.search('customs office marker', { image: { threshold: 0.0 } });
    expect(loose.images.length).toBeGreaterThan(0);
    const cut = Math.max(...loose.images.map((h) => h.scores!.vector!)) - 1e-6;
    const { images } = await kb.search('customs office marker', { image: { threshold: cut } });
    expect(images.length).toBe(1);
    expect(images[0]!.scores!.vector!).toBeGreaterThanOrEqual(cut);
  });

  it('the configured default threshold does not drop a document that only its rare words find', async () => {
    const { text } = await kb.search('zanzibarian ledger');
    expect(text[0]?.text).toContain('zanzibarian ledger');
    expect(text[0]?.relevance).toMatchObject({ kind: 'bm25' });
  });

  it('shows a readable score: the evidence that placed a hit first, not the fused rank score', async () => {
    const { images } = await kb.search('a red circle');
    const top = images[0]!;
    expect(top.score).toBeLessThan(0.05); // reciprocal rank fusion: orders hits, says nothing of quality
    expect(top.relevance?.kind).toBe('cosine');
    expect(top.relevance?.value).toBeGreaterThan(0.5);
    expect(formatRelevance(top.relevance!)).toMatch(/^cos 0\.\d{3}$/);
    const reference = await kb.search('a red circle', { scoring: 'softmax' });
    expect(reference.images[0]?.relevance).toEqual({ kind: 'softmax', value: reference.images[0]!.score });
  });
});
