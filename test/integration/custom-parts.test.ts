import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { MemoryMediaStore, MemoryStore } from '../helpers/memory-store.js';

// The facade composes the parts it is given: a second Store and MediaStore plug in without kb.ts knowing them.
describe('a knowledge base on a store of its own', () => {
  let tmp: ReturnType<typeof tempDir>;
  let llm: LoopbackLlm;
  let kb: KnowledgeBase;
  const store = new MemoryStore();
  const media = new MemoryMediaStore();

  beforeAll(async () => {
    tmp = tempDir();
    await writeShapesPage(join(tmp.dir, 'site'));
    llm = await startLoopbackLlm({ reply: 'The red circle marks the fuel dock [4].' });
    kb = await openKnowledgeBase({
      kb: join(tmp.dir, 'kb'),
      embed: { model: FIXTURE_MODEL },
      llm: { provider: 'ollama', url: llm.url },
      store,
      media,
    });
  });

  afterAll(async () => {
    await kb?.close();
    await llm?.close();
    tmp?.cleanup();
  });

  it('ingests into it: items, vectors, pictures and the manifest live there, nothing in a LanceDB folder', async () => {
    const summary = await kb.ingest([join(tmp.dir, 'site')]);
    expect(summary).toMatchObject({ ingested: 1, failed: 0, textItems: 4, imageItems: 3 });
    expect(store.calls.get('commit')).toBe(1);
    expect(media.files.size).toBe(3);
    expect((await store.readManifest())?.dim).toBe(64);
    expect(existsSync(join(tmp.dir, 'kb', 'lance'))).toBe(false);
  });

  it('searches it, hybrid by default: vectors and BM25 both come from the store', async () => {
    const result = await kb.search('a red circle');
    expect(result.images[0]?.caption).toBe('The fuel dock marker');
    expect(result.images[0]?.image).toMatch(/^memory:/);
    expect(store.calls.get('fullTextSearch')).toBeGreaterThan(0);
    expect((await kb.search('diesel', { mode: 'bm25' })).text[0]?.text).toContain('fuel dock');
  });

  it('answers from it, sending the picture read from the media store', async () => {
    const result = await kb.ask('What does the red circle mark?');
    expect(result.answer).toContain('fuel dock');
    const body = llm.chatRequests().at(-1)!.body as { messages: Array<{ images?: string[] }> };
    const sent = body.messages.at(-1)!.images ?? [];
    expect(sent.length).toBe(result.sources.filter((s) => s.modality === 'image').length);
    const stored = [...media.files.values()].map((b) => Buffer.from(b).toString('base64'));
    expect(sent.every((image) => stored.includes(image))).toBe(true);
  });

  it('deletes from it, and the pictures nobody uses go too', async () => {
    const [record] = await kb.sources();
    expect(await kb.delete(record!.source)).toBe(7);
    expect(await kb.sources()).toEqual([]);
    expect(media.files.size).toBe(0);
  });
});
