import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClipEmbedder } from '../../src/embed/clip.js';
import type { Embedder } from '../../src/embed/embedder.js';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { decodeToRgb } from '../../src/media/image-decode.js';
import { drawShape, FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { startLoopbackLlm } from '../helpers/loopback-llm.js';

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;
let page: string;
let embedder: Embedder;

beforeAll(async () => {
  tmp = tempDir();
  page = await writeShapesPage(join(tmp.dir, 'site'));
  kb = await openKnowledgeBase({ kb: join(tmp.dir, 'kb'), embed: { model: FIXTURE_MODEL } });
  embedder = await loadClipEmbedder({ model: FIXTURE_MODEL });
});

afterAll(async () => {
  await kb?.close();
  await embedder?.dispose();
  tmp?.cleanup();
});

describe('knowledge base with the fixture CLIP model', () => {
  it('ingests a saved page: text chunks and its three pictures', async () => {
    const summary = await kb.ingest([join(tmp.dir, 'site')]);
    expect(summary.failed).toBe(0);
    expect(summary.ingested).toBe(1);
    expect(summary.imageItems).toBe(3);
    expect(summary.textItems).toBe(4); // three p and one ul (li are part of their list)
    const [record] = await kb.sources();
    expect(record).toMatchObject({ source: page, type: 'html', imageItems: 3, textItems: 4 });
  });

  it('ranks the red circle first for "a red circle", with captions from figcaption, alt, or none', async () => {
    const result = await kb.search('a red circle');
    expect(result.images[0]).toMatchObject({
      caption: 'The fuel dock marker',
      section: 'Circles',
      source: page,
    });
    const captions = (await kb.items(page)).filter((i) => i.modality === 'image').map((i) => i.text);
    expect(captions.sort()).toEqual([
      'Customs office marker',
      'No caption available',
      'The fuel dock marker',
    ]);
    const blue = await kb.search('a blue square');
    expect(blue.images[0]!.caption).toBe('Customs office marker');
    const green = await kb.search('a green triangle');
    expect(green.images[0]!.section).toBe('Triangles');
  });

  it('--scoring softmax equals an independent computation of the reference', async () => {
    const query = 'a red circle';
    const result = await kb.search(query, {
      scoring: 'softmax',
      image: { threshold: 0, k: 10 },
      text: { threshold: 0, k: 50 },
    });
    // Independently: raw text projection . normalised item vectors, softmax over all items of the modality.
    const [q] = await embedder.embedTexts([query]);
    const items = await kb.items(page);
    const imageItems = items.filter((i) => i.modality === 'image');
    const vectors = await Promise.all(
      imageItems.map(async (item) => {
        const rgb = await decodeToRgb(readFileSync(join(kb.dir, 'media', item.media!)), {
          maxPixels: 1e8,
          maxSide: 1024,
        });
        const [v] = await embedder.embedImages([rgb]);
        const norm = Math.hypot(...v!);
        return Array.from(v!, (x) => x / norm);
      }),
    );
    const dots = vectors.map((v) => v.reduce((s, x, j) => s + x * q![j]!, 0));
    const exps = dots.map((d) => Math.exp(d / 0.5));
    const sum = exps.reduce((a, b) => a + b, 0);
    const expected = imageItems
      .map((item, i) => ({ id: item.id, score: exps[i]! / sum, similarity: dots[i]! }))
      .sort((a, b) => b.score - a.score);
    expect(result.images.map((h) => h.id)).toEqual(expected.map((e) => e.id));
    result.images.forEach((hit, i) => {
      expect(hit.score).toBeCloseTo(expected[i]!.score, 4);
      expect(hit.similarity).toBeCloseTo(expected[i]!.similarity, 3);
    });
    expect(result.images.reduce((s, h) => s + h.score, 0)).toBeCloseTo(1, 5);
    // The reference image defaults (k 5, threshold 0.25, temperature 0.5) keep only the confident ones.
    const defaults = await kb.search(query, { scoring: 'softmax' });
    expect(defaults.images.every((h) => h.score >= 0.25)).toBe(true);
    expect(defaults.images[0]!.id).toBe(expected[0]!.id);
  });

  it('searches by a picture: the blue square finds its own item first', async () => {
    const result = await kb.search({ image: join(tmp.dir, 'site', 'shapes_files', 'blue-square.png') });
    expect(result.images[0]!.caption).toBe('Customs office marker');
    expect(result.images[0]!.scores?.vector).toBeGreaterThan(0.99);
    expect(result.mode).toBe('hybrid');
  });

  it('re-ingesting an unchanged file adds nothing', async () => {
    const before = await kb.stats();
    const summary = await kb.ingest([join(tmp.dir, 'site')]);
    expect(summary).toMatchObject({ ingested: 0, unchanged: 1, failed: 0 });
    expect(await kb.stats()).toEqual(before);
  });

  it('a changed file replaces its items', async () => {
    await writeShapesPage(
      join(tmp.dir, 'site'),
      'An orange lantern hangs above the harbour gate every night of the year.',
    );
    const summary = await kb.ingest([page]);
    expect(summary.ingested).toBe(1);
    const items = await kb.items(page);
    expect(items.filter((i) => i.modality === 'text')).toHaveLength(5);
    expect(items.filter((i) => i.modality === 'image')).toHaveLength(3);
    expect((await kb.stats()).textItems).toBe(5);
    const ids = new Set(items.map((i) => i.id));
    const result = await kb.search('a red circle', {
      text: { k: 100, threshold: -1 },
      image: { k: 100, threshold: -1 },
    });
    expect(result.text.length + result.images.length).toBe(8);
    expect([...result.text, ...result.images].every((h) => ids.has(h.id))).toBe(true);
  });

  it('keeps its own copy of the pictures: answers survive moving the originals', async () => {
    const assets = join(tmp.dir, 'site', 'shapes_files');
    renameSync(assets, `${assets}-moved`);
    try {
      const result = await kb.search('a red circle');
      const bytes = readFileSync(result.images[0]!.image!);
      expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    } finally {
      renameSync(`${assets}-moved`, assets);
    }
  });

  it('asks an Ollama server with the prompt and the pictures attached', async () => {
    const llm = await startLoopbackLlm({ reply: 'The red circle marks the fuel dock [1].' });
    const asking = await openKnowledgeBase({
      kb: kb.dir,
      llm: { provider: 'ollama', url: llm.url, model: 'llama3.2-vision' },
    });
    try {
      const tokens: string[] = [];
      const result = await asking.ask('a red circle', { onToken: (t) => tokens.push(t) });
      expect(result.answer).toBe('The red circle marks the fuel dock [1].');
      expect(tokens.length).toBeGreaterThan(1);
      expect(result.model).toBe('ollama/llama3.2-vision');
      expect(result.citations).toEqual([1]);
      const [request] = llm.chatRequests();
      const body = request!.body as { messages: Array<{ content: string; images?: string[] }> };
      const message = body.messages.at(-1)!;
      expect(message.content).toContain('Given the query "a red circle"');
      expect(message.content).toContain('Snippet: A red circle marks the fuel dock');
      expect(message.content).toContain('Image Caption: The fuel dock marker');
      const imageHits = result.sources.filter((h) => h.modality === 'image');
      expect(message.images).toHaveLength(imageHits.length);
      expect(Buffer.from(message.images![0]!, 'base64').equals(readFileSync(imageHits[0]!.image!))).toBe(
        true,
      );
    } finally {
      await asking.close();
      await llm.close();
    }
  });

  it('with no model reachable, ask returns the sources and says no model answered', async () => {
    const asking = await openKnowledgeBase({
      kb: kb.dir,
      llm: { provider: 'auto', url: 'http://127.0.0.1:9' },
    });
    try {
      const result = await asking.ask('a blue square');
      expect(result.answer).toBeNull();
      expect(result.error?.code).toBe('llm_none');
      expect(result.error?.message).toMatch(/No language model answered/);
      expect(result.sources.length).toBeGreaterThan(0);
    } finally {
      await asking.close();
    }
  });

  it('refuses to mix embedding models in one knowledge base', async () => {
    await expect(
      openKnowledgeBase({ kb: kb.dir, embed: { model: 'Xenova/clip-vit-base-patch32' } }),
    ).rejects.toThrow(/was built with the embedding model/);
  });

  it('deletes a source with its items and unused pictures', async () => {
    const removed = await kb.delete(page);
    expect(removed).toBe(8);
    expect(await kb.sources()).toEqual([]);
    const result = await kb.search('a red circle');
    expect(result.images).toEqual([]);
    expect(readdirSync(join(kb.dir, 'media')).flatMap((d) => readdirSync(join(kb.dir, 'media', d)))).toEqual(
      [],
    );
  });
});

describe('pictures sharp cannot read, inside documents', () => {
  it('a BMP referenced by a page is decoded, embedded and stored as PNG', async () => {
    const { writeBmp24 } = await import('../helpers/bmp.js');
    const sharp = (await import('sharp')).default;
    const dir = tempDir('mmrag-bmp-');
    try {
      const { data, info } = await sharp(await drawShape('red', 'circle'))
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      writeFileSync(join(dir.dir, 'logo.bmp'), writeBmp24(new Uint8Array(data), info.width, info.height));
      writeFileSync(
        join(dir.dir, 'page.html'),
        '<html><head><title>Logo</title></head><body><p>Our logo is a red circle, as shown in the picture below.</p><img src="logo.bmp" alt="The logo"></body></html>',
      );
      const bmpKb = await openKnowledgeBase({ kb: join(dir.dir, 'kb'), embed: { model: FIXTURE_MODEL } });
      try {
        const summary = await bmpKb.ingest([join(dir.dir, 'page.html')]);
        expect(summary.outcomes[0]).toMatchObject({ status: 'ingested', imageItems: 1, warnings: [] });
        const hit = (await bmpKb.search('a red circle')).images[0]!;
        expect(hit.caption).toBe('The logo');
        expect(hit.image).toMatch(/\.png$/);
      } finally {
        await bmpKb.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});
