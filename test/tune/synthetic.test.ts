/**
 * Questions written by an LLM for sampled chunks and pictures, through the loopback server speaking the real
 * Ollama wire format: what is asked, the cache, resuming after a failure, and a model that cannot see pictures.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOllamaModel } from '../../src/generate/providers/ollama.js';
import { openKnowledgeBase } from '../../src/kb.js';
import { tuneKnowledgeBase } from '../../src/tune/run.js';
import {
  cleanReply,
  readSyntheticCache,
  sampleForQuestions,
  syntheticCachePath,
  writeSyntheticQuestions,
} from '../../src/tune/synthetic.js';
import type { StoredItem } from '../../src/types.js';
import { FIXTURE_MODEL, tempDir } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';
import { writeDomainCorpus } from './domains.js';

let llm: LoopbackLlm;
let tmp: ReturnType<typeof tempDir>;

beforeAll(async () => {
  llm = await startLoopbackLlm({ reply: 'Question 0?' });
});
afterAll(async () => {
  await llm?.close();
});
beforeEach(() => {
  tmp = tempDir('mmrag-synthetic-');
  llm.requests.length = 0;
  llm.failWith(null);
});
afterEach(() => tmp.cleanup());

const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

function items(): StoredItem[] {
  const chunks = Array.from({ length: 12 }, (_, i) => ({
    id: `chunk-${i}`,
    modality: 'text' as const,
    type: 'html' as const,
    source: '/docs/harbour.html',
    title: 'Harbour guide',
    section: `Berth ${i}`,
    text: `Berth ${i} is reserved for boats longer than ${10 + i} metres; the harbour master assigns it on arrival.`,
    ingestedAt: 0,
  }));
  const pictures = Array.from({ length: 4 }, (_, i) => ({
    id: `picture-${i}`,
    modality: 'image' as const,
    type: 'html' as const,
    source: '/docs/harbour.html',
    title: 'Harbour guide',
    section: 'Markers',
    text: 'No caption available',
    media: `p${i}.png`,
    ingestedAt: 0,
  }));
  return [...chunks, ...pictures, { ...chunks[0]!, id: 'short', text: 'Too short.' }];
}

const model = () => createOllamaModel({ url: llm.url, model: 'llama3.2-vision', timeoutMs: 5000 });

/** Each answer differs (the loopback replies one fixed text: change it after every item). */
function numbered(progress: { done: number }) {
  llm.setReply(`Question: "Which berth is number ${progress.done + 1}?"`);
}

describe('LLM-written questions', () => {
  it('asks once per sampled item (passage text or the picture attached), and caches every answer', async () => {
    llm.setReply('Which berth is number 1?');
    const result = await writeSyntheticQuestions({
      dir: tmp.dir,
      llm: model(),
      items: items(),
      count: 10,
      seed: 1,
      readPicture: async () => ({ bytes: PIXEL_PNG, mime: 'image/png' }),
      onProgress: numbered,
    });
    expect(result).toMatchObject({ written: 10, cached: 0, failed: 0 });
    const chats = llm.chatRequests();
    expect(chats).toHaveLength(10);
    const sample = sampleForQuestions(items(), 10, 1);
    expect(sample.map((i) => i.id)).not.toContain('short');
    chats.forEach((request, i) => {
      const body = request.body as { messages: Array<{ content: string; images?: string[] }> };
      const message = body.messages.at(-1)!;
      const item = sample[i]!;
      if (item.modality === 'text') {
        expect(message.content).toContain(item.text);
        expect(message.images ?? []).toHaveLength(0);
      } else {
        expect(message.content).toContain('find this picture');
        expect(message.images).toHaveLength(1);
      }
    });
    const cached = readSyntheticCache(tmp.dir);
    expect(cached.map((q) => q.item)).toEqual(sample.map((i) => i.id));
    expect(cached[0]).toMatchObject({ query: 'Which berth is number 1?', model: 'ollama/llama3.2-vision' });
    // Labels and quotes are taken off: "Question: "Which berth…?"" is stored as the bare question.
    expect(cached[1]!.query).toBe('Which berth is number 2?');
  });

  it('resumes: cached items are not asked again; a failing server stops the run and keeps what was written', async () => {
    const options = {
      dir: tmp.dir,
      llm: model(),
      items: items(),
      seed: 2,
      readPicture: async () => ({ bytes: PIXEL_PNG, mime: 'image/png' }),
      onProgress: numbered,
    };
    await writeSyntheticQuestions({ ...options, count: 4 });
    expect(llm.chatRequests()).toHaveLength(4);
    llm.failWith('server_error');
    await expect(writeSyntheticQuestions({ ...options, count: 12 })).rejects.toMatchObject({
      message: expect.stringContaining('Writing questions stopped after 4 of 12'),
      hint: expect.stringContaining('run the same command again'),
    });
    expect(readSyntheticCache(tmp.dir)).toHaveLength(4);
    llm.failWith(null);
    llm.requests.length = 0;
    const resumed = await writeSyntheticQuestions({ ...options, count: 12 });
    expect(resumed).toMatchObject({ cached: 4, written: 8 });
    expect(llm.chatRequests()).toHaveLength(8);
    // The same sample, first four from the cache, in the same order.
    expect(resumed.questions.map((q) => q.item)).toEqual(sampleForQuestions(items(), 12, 2).map((i) => i.id));
    // A torn last line (a crash mid-write) is skipped, the rest read.
    const path = syntheticCachePath(tmp.dir);
    const text = readFileSync(path, 'utf8');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, `${text}{"item": "chunk-`);
    expect(readSyntheticCache(tmp.dir)).toHaveLength(12);
  });

  it('a model that cannot take pictures: pictures are skipped after its first refusal, and it says so', async () => {
    llm.failWith('images_refused');
    const result = await writeSyntheticQuestions({
      dir: tmp.dir,
      llm: model(),
      items: items().filter((i) => i.modality === 'image'),
      count: 4,
      seed: 1,
      readPicture: async () => ({ bytes: PIXEL_PNG, mime: 'image/png' }),
    });
    expect(result).toMatchObject({ written: 0, failed: 0 });
    expect(result.note).toMatch(/cannot take pictures: questions were written for text chunks only/);
    expect(llm.chatRequests()).toHaveLength(1);
  });

  it('cleanReply takes the first line without labels, numbering or quotes', () => {
    expect(cleanReply('\n  1. "When does customs open?"\nMore text')).toBe('When does customs open?');
    expect(cleanReply('Query: red circle marker')).toBe('red circle marker');
    expect(cleanReply('  ')).toBeUndefined();
    expect(cleanReply('?!')).toBeUndefined();
  });

  it('mmrag tune --synthetic N: the questions become training pairs, through the configured LLM', async () => {
    await writeDomainCorpus(join(tmp.dir, 'corpus'), {
      captioned: 2,
      uncaptioned: 0,
      seed: 3,
      domains: ['outline'],
    });
    const kb = await openKnowledgeBase({
      kb: join(tmp.dir, 'kb'),
      embed: { model: FIXTURE_MODEL, allowRemote: false },
      ingest: { ocr: false },
      llm: { provider: 'ollama', url: llm.url },
    });
    try {
      await kb.ingest([join(tmp.dir, 'corpus')]);
      llm.setReply('an outlined shape');
      const report = await tuneKnowledgeBase(kb, { synthetic: 20, epochs: 2 });
      expect(report.synthetic).toMatchObject({ written: 20, cached: 0, failed: 0 });
      // One reply for every item: one query naming 20 pictures, capped at 8 items per query.
      expect(report.training.pairs.synthetic).toBe(8);
      expect(llm.chatRequests()).toHaveLength(20);
      expect(
        llm
          .chatRequests()
          .every(
            (r) =>
              ((r.body as { messages: Array<{ images?: unknown[] }> }).messages.at(-1)!.images ?? [])
                .length === 1,
          ),
      ).toBe(true);
      // A second run reads them from the cache.
      llm.requests.length = 0;
      const again = await tuneKnowledgeBase(kb, { synthetic: 20, epochs: 2 });
      expect(again.synthetic).toMatchObject({ written: 0, cached: 20 });
      expect(llm.chatRequests()).toHaveLength(0);
    } finally {
      await kb.close();
    }
  }, 120_000);
});
