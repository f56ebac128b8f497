import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KnowledgeBase, openKnowledgeBase } from '../../src/kb.js';
import { retrievalText } from '../../src/retrieve/query.js';
import { drawShape, FIXTURE_MODEL, tempDir, writeShapesPage } from '../helpers/fixtures.js';
import { type LoopbackLlm, startLoopbackLlm } from '../helpers/loopback-llm.js';

let tmp: ReturnType<typeof tempDir>;
let kb: KnowledgeBase;
let llm: LoopbackLlm;
let rerankServer: Server;
let rerankUrl: string;
const rerankRequests: Array<{ query: string; documents: string[] }> = [];

const PARAGRAPHS = [
  'The harbour office keeps the tide tables for every month of the year on the wall by the door.',
  'Fishing boats leave before dawn and come back in the afternoon with their catch for the market.',
  'The Zorblax lantern is lit only on the night of the autumn festival, above the harbour gate.',
  'Visitors can rent small rowing boats at the slipway from spring until the end of the summer.',
  'The old customs house is now a museum about the history of the harbour and its trade routes.',
];

beforeAll(async () => {
  tmp = tempDir('mmrag-levels-');
  const site = join(tmp.dir, 'site');
  await writeShapesPage(site);
  writeFileSync(
    join(site, 'harbour.html'),
    `<html><head><title>Harbour life</title></head><body><h1>Harbour life</h1>${PARAGRAPHS.map((p) => `<p>${p}</p>`).join('')}</body></html>`,
  );
  // Five copies of one picture (the same frame over and over) and one different picture.
  const frames = join(tmp.dir, 'frames');
  mkdirSync(frames);
  // Distinct files (different sizes of one drawing), so they are five items of one near-identical picture.
  for (let i = 0; i < 5; i++)
    writeFileSync(join(frames, `frame-${i}.png`), await drawShape('red', 'circle', 128 + i * 8));
  writeFileSync(join(frames, 'orange.png'), await drawShape('orange', 'circle'));

  llm = await startLoopbackLlm({ reply: 'An answer [1].' });
  rerankServer = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const parsed = JSON.parse(body) as { query: string; documents: string[] };
      rerankRequests.push(parsed);
      // A reranker that prefers documents mentioning boats.
      const results = parsed.documents.map((d, index) => ({
        index,
        relevance_score: /boats/.test(d) ? 0.9 : 0.1,
      }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }));
    });
  });
  await new Promise<void>((r) => rerankServer.listen(0, '127.0.0.1', r));
  rerankUrl = `http://127.0.0.1:${(rerankServer.address() as AddressInfo).port}/v1/rerank`;

  kb = await openKnowledgeBase({
    kb: join(tmp.dir, 'kb'),
    embed: { model: FIXTURE_MODEL },
    llm: { provider: 'ollama', url: llm.url },
    search: { rerank: { provider: 'remote', url: rerankUrl } },
    ingest: { ocr: false },
  });
  const summary = await kb.ingest([site, frames]);
  expect(summary.failed).toBe(0);
});

afterAll(async () => {
  await kb?.close();
  await llm?.close();
  await new Promise((r) => rerankServer.close(r));
  tmp?.cleanup();
});

const zorblax = (text?: string) => text?.includes('Zorblax') ?? false;

describe('hybrid search', () => {
  it('finds a rare exact word that vector search misses', async () => {
    const vector = await kb.search('Zorblax', { mode: 'vector', rerank: false, text: { threshold: -1 } });
    expect(zorblax(vector.text[0]?.text)).toBe(false);
    const hybrid = await kb.search('Zorblax', { rerank: false });
    expect(hybrid.mode).toBe('hybrid');
    expect(zorblax(hybrid.text[0]?.text)).toBe(true);
    expect(hybrid.text[0]!.scores?.bm25).toBeGreaterThan(0);
    const bm25 = await kb.search('Zorblax', { mode: 'bm25', rerank: false });
    expect(bm25.text).toHaveLength(1);
  });

  it('finds pictures by the words of their captions', async () => {
    const result = await kb.search('fuel dock', { rerank: false });
    expect(result.images[0]!.caption).toBe('The fuel dock marker');
  });
});

describe('filters', () => {
  it('--where keeps only matching items', async () => {
    const all = await kb.search('a red circle', {
      rerank: false,
      text: { threshold: -1 },
      image: { threshold: -1, k: 20 },
    });
    expect(new Set(all.images.map((h) => h.section)).size).toBeGreaterThan(1);
    const circles = await kb.search('a red circle', {
      rerank: false,
      where: 'section = Circles',
      text: { threshold: -1 },
      image: { threshold: -1, k: 20 },
    });
    expect(circles.images.length).toBeGreaterThan(0);
    expect(circles.images.every((h) => h.section === 'Circles')).toBe(true);
    expect(circles.text.every((h) => h.section === 'Circles')).toBe(true);
    const onlyPng = await kb.search('a red circle', {
      rerank: false,
      where: 'source ~ frame-',
      image: { threshold: -1, k: 20 },
    });
    expect(onlyPng.text).toEqual([]);
    expect(onlyPng.images).toHaveLength(5);
    await expect(kb.search('x', { where: 'colour = red' })).rejects.toThrow(/colour/);
  });
});

describe('diversity', () => {
  it('stops five near-identical frames from filling the list', async () => {
    const plain = await kb.search('a red circle', {
      rerank: false,
      mode: 'vector',
      image: { k: 3, threshold: -1 },
    });
    expect(plain.images.filter((h) => h.source.includes('frame-'))).toHaveLength(3);
    const diverse = await kb.search('a red circle', {
      rerank: false,
      mode: 'vector',
      diversity: 0.3,
      image: { k: 3, threshold: -1 },
    });
    expect(diverse.images.filter((h) => h.source.includes('frame-')).length).toBeLessThanOrEqual(1);
  });
});

describe('reranking', () => {
  it('reorders the candidates by a remote /rerank API', async () => {
    const before = rerankRequests.length;
    const result = await kb.search('harbour', { text: { threshold: -1 } });
    expect(rerankRequests.length).toBeGreaterThan(before);
    expect(rerankRequests.at(-1)!.query).toBe('harbour');
    expect(result.text[0]!.text).toMatch(/boats/);
    expect(result.text[0]!.scores?.rerank).toBe(0.9);
  });
});

describe('follow-up questions', () => {
  it('a short follow-up is retrieved together with the question before it', async () => {
    const history = [
      { role: 'user' as const, content: 'a green triangle' },
      { role: 'assistant' as const, content: 'It marks the lifeboat station [1].' },
    ];
    const result = await kb.ask('and what is it next to?', { history, llm: null, rerank: false });
    expect(result.question).toBe('and what is it next to?');
    expect(result.sources.find((h) => h.modality === 'image')?.section).toBe('Triangles');
    expect(retrievalText('and what is it next to?', history)).toBe(
      'a green triangle and what is it next to?',
    );
    const long = 'what does the harbour office keep on the wall by the door?';
    expect(retrievalText(long, history)).toBe(long);
    expect(retrievalText('why?', [])).toBe('why?');
  });
});

describe('levels', () => {
  const lastRequest = () =>
    llm.chatRequests().at(-1)!.body as { messages: Array<{ content: string; images?: string[] }> };

  it('level 3: CLIP space, pictures attached', async () => {
    const result = await kb.ask('a red circle', { rerank: false });
    expect(result.level).toBe(3);
    expect(lastRequest().messages.at(-1)!.images!.length).toBeGreaterThan(0);
  });

  it('level 2: text forms retrieved, pictures attached', async () => {
    const result = await kb.ask('fuel dock', { level: 2, rerank: false });
    expect(result.level).toBe(2);
    expect(result.sources.find((h) => h.modality === 'image')?.caption).toBe('The fuel dock marker');
    const message = lastRequest().messages.at(-1)!;
    expect(message.images!.length).toBeGreaterThan(0);
    expect(message.content).toContain('attached to this message');
  });

  it('level 1: text forms only, no pictures sent', async () => {
    const result = await kb.ask('fuel dock marker', { level: 1, rerank: false });
    expect(result.level).toBe(1);
    expect(result.sources.some((h) => h.modality === 'image')).toBe(true);
    const message = lastRequest().messages.at(-1)!;
    expect(message.images ?? []).toEqual([]);
    expect(message.content).toContain('Image Caption: The fuel dock marker');
    expect(message.content).toContain('not attached');
  });

  it('search by picture needs level 3', async () => {
    await expect(kb.search({ image: join(tmp.dir, 'frames', 'orange.png') }, { level: 1 })).rejects.toThrow(
      /level 3/,
    );
  });
});
