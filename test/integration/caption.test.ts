import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';

let tmp: ReturnType<typeof tempDir>;
let llm: LoopbackLlm;
let kb: KnowledgeBase;

beforeAll(async () => {
  tmp = tempDir('mmrag-caption-');
  await writeShapesPage(join(tmp.dir, 'site'));
  llm = await startLoopbackLlm({ reply: 'A painted mooring post seen from the Quayside lighthouse.' });
  kb = await openKnowledgeBase({
    kb: join(tmp.dir, 'kb'),
    embed: { model: FIXTURE_MODEL },
    llm: { provider: 'ollama', url: llm.url },
    ingest: { caption: true },
  });
  await kb.ingest([join(tmp.dir, 'site')]);
});

afterAll(async () => {
  await kb?.close();
  await llm?.close();
  tmp?.cleanup();
});

describe('ingest --caption (level 1: pictures described by the multimodal LLM)', () => {
  it('sends each picture to the model and keeps its description', async () => {
    const describeRequests = llm.chatRequests();
    expect(describeRequests).toHaveLength(3);
    const body = describeRequests[0]!.body as { messages: Array<{ content: string; images?: string[] }> };
    expect(body.messages.at(-1)!.content).toMatch(/Describe this picture/);
    expect(body.messages.at(-1)!.images).toHaveLength(1);
    const pictures = (await kb.items(join(tmp.dir, 'site', 'shapes.html'))).filter(
      (i) => i.modality === 'image',
    );
    expect(pictures.every((p) => p.description?.includes('Quayside lighthouse'))).toBe(true);
  });

  it('finds pictures by words that are only in their descriptions (BM25), and shows the description', async () => {
    const result = await kb.search('Quayside', { level: 1, mode: 'bm25' });
    expect(result.images).toHaveLength(3);
    expect(result.images[0]!.description).toContain('Quayside lighthouse');
    expect(result.text).toEqual([]);
  });
});
