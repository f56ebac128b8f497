/**
 * End-to-end query latency at N = 100k: from the question to the ranked hits (query embedding with the fixture
 * CLIP model, search, fusion with BM25) through KnowledgeBase.search, and time to first token through
 * KnowledgeBase.ask with a loopback LLM server.
 *
 * The knowledge base is written through the Store directly (synthetic clustered 512-d vectors, 70% text items,
 * 30% pictures, a few words of text each for BM25), not through the model. The fixture model's space is 64 wide,
 * so the query is embedded by the fixture model and lifted to 512-d by a fixed random projection: real model work
 * per query, and search work at the real CLIP width.
 *   npx tsc -p bench/tsconfig.json && node node_modules/.cache/mmrag-bench/bench/e2e.js [--n 100k] [--queries 30]
 */
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClipEmbedder } from '../src/embed/clip.js';
import type { Embedder } from '../src/embed/embedder.js';
import { createLanguageModel } from '../src/generate/create.js';
import { openKnowledgeBase } from '../src/kb.js';
import { setVectorSearchListener } from '../src/retrieve/search.js';
import { LanceStore } from '../src/store/lance.js';
import { l2normalize } from '../src/vector/dot.js';
import { startLoopbackLlm } from '../test/helpers/loopback-llm.js';
import {
  ClusteredVectors,
  fillGaussian,
  formatMarkdownTable,
  formatMs,
  formatTable,
  parseSize,
  peakRssMb,
  percentile,
  seededRandom,
  sizeLabel,
  writeResults,
} from './lib.js';
import { writeSyntheticRows } from './synthetic-kb.js';

const DIM = 512;
/** Run from the project root (the compiled bench lives elsewhere). */
const FIXTURE_MODEL = path.resolve('models', 'tiny-clip-shapes');
const QUESTIONS = [
  'a red circle near the harbour',
  'the lighthouse in a winter storm',
  'blue square by the river bridge',
  'autumn festival at the castle',
  'green triangle on the beach',
  'morning market in the village',
  'the old mill and the orchard',
  'a yellow cross at the station',
];

function log(message: string): void {
  process.stderr.write(`[e2e bench] ${message}\n`);
}

/** The fixture model, its 64-d outputs lifted to `dim` by a fixed random projection (then normalised). */
function projected(base: Embedder, dim: number): Embedder {
  const projection = new Float32Array(base.dim * dim);
  fillGaussian(projection, seededRandom(99));
  const lift = (v: Float32Array) => {
    const out = new Float32Array(dim);
    for (let i = 0; i < base.dim; i++) {
      const x = v[i]!;
      const row = i * dim;
      for (let j = 0; j < dim; j++) out[j]! += x * projection[row + j]!;
    }
    return l2normalize(out);
  };
  return {
    modelId: `${base.modelId}+projection${dim}`,
    dim,
    embedTexts: async (texts) => (await base.embedTexts(texts)).map(lift),
    embedImages: async (images) => (await base.embedImages(images)).map(lift),
    dispose: () => base.dispose(),
  };
}

function stats(samples: number[]): { p50: number; p99: number; mean: number } {
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string, fallback: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1]! : fallback;
  };
  const n = parseSize(flag('--n', '100k'));
  const queries = Number(flag('--queries', '30'));
  const out = argv.includes('--out') ? flag('--out', '') : null;

  // --keep DIR: build the knowledge base there once and reuse it on later runs (for profiling).
  const keep = argv.includes('--keep') ? path.resolve(flag('--keep', '')) : null;
  const dir = keep ?? path.join(os.tmpdir(), `mmrag-bench-e2e-${process.pid}`);
  let writeSeconds = 0;
  let optimizeSeconds = 0;
  if (!keep || !existsSync(path.join(dir, 'sources.json'))) {
    rmSync(dir, { recursive: true, force: true });
    const generator = new ClusteredVectors(DIM, 1000, 0.6, 3);
    log(`writing ${n} synthetic items (512-d) into ${dir}`);
    const writer = await LanceStore.open(dir, { ann: { columns: ['vector'] } });
    writeSeconds = await writeSyntheticRows(writer, {
      n,
      dim: DIM,
      vectorOf: (_first, count) => generator.next(count),
      modalityOf: (i) => (i % 10 < 7 ? 'text' : 'image'),
    });
    log(`written in ${writeSeconds.toFixed(1)} s; optimize (indexes)`);
    const optimizeStart = performance.now();
    await writer.optimize();
    optimizeSeconds = (performance.now() - optimizeStart) / 1000;
    await writer.close();
    log(`optimize ${optimizeSeconds.toFixed(1)} s`);
  }

  const llm = await startLoopbackLlm({ reply: 'The red circle is by the harbour [1].', chunks: 6 });
  const kb = await openKnowledgeBase({ kb: dir, embed: { model: FIXTURE_MODEL, allowRemote: false } });
  const base = await loadClipEmbedder({ model: FIXTURE_MODEL, allowRemote: false, dtype: 'fp32' });
  const embedder = projected(base, DIM);
  kb.models.useEmbedder(embedder);
  const used = new Map<string, number>();
  setVectorSearchListener((u) => {
    const key = `${u.modality}:${u.method}`;
    used.set(key, (used.get(key) ?? 0) + 1);
  });
  const question = (i: number) => `${QUESTIONS[i % QUESTIONS.length]} ${i}`;

  const coldStart = performance.now();
  const cold = await kb.search(question(0));
  const coldMs = performance.now() - coldStart;
  if (cold.text.length === 0) throw new Error('no text hits');

  const embedSamples: number[] = [];
  const hybridSamples: number[] = [];
  const vectorSamples: number[] = [];
  for (let i = 0; i < queries + 3; i++) {
    let t = performance.now();
    await embedder.embedTexts([question(i)]);
    const embedMs = performance.now() - t;
    t = performance.now();
    await kb.search(question(i));
    const hybridMs = performance.now() - t;
    t = performance.now();
    await kb.search(question(i), { mode: 'vector' });
    const vectorMs = performance.now() - t;
    if (i < 3) continue;
    embedSamples.push(embedMs);
    hybridSamples.push(hybridMs);
    vectorSamples.push(vectorMs);
  }

  const model = await createLanguageModel({
    provider: 'ollama',
    url: llm.url,
    model: 'loopback',
    timeoutMs: 30_000,
  });
  const ttftSamples: number[] = [];
  const askSamples: number[] = [];
  for (let i = 0; i < Math.min(queries, 20) + 2; i++) {
    const start = performance.now();
    let first = 0;
    const result = await kb.ask(question(i), {
      llm: model ?? null,
      onToken: () => {
        first ||= performance.now() - start;
      },
    });
    if (!result.answer) throw new Error(`no answer: ${result.error?.message}`);
    if (i < 2) continue;
    ttftSamples.push(first);
    askSamples.push(performance.now() - start);
  }
  setVectorSearchListener(undefined);
  await kb.close();
  await llm.close();
  if (!keep) rmSync(dir, { recursive: true, force: true });

  const rows = [
    ['first search (cold: model load, vectors of the exact modality loaded)', formatMs(coldMs), '-', '-'],
    ['query embedding (fixture CLIP text tower + 512-d projection)', ...fmt(stats(embedSamples))],
    ['search, hybrid (embedding + vector + BM25 + fusion + hits)', ...fmt(stats(hybridSamples))],
    ['search, vector only', ...fmt(stats(vectorSamples))],
    ['ask: time to first token (loopback LLM)', ...fmt(stats(ttftSamples))],
    ['ask: whole answer (loopback LLM, 6 chunks)', ...fmt(stats(askSamples))],
  ];
  const header = [`at N = ${sizeLabel(n)}`, 'p50 ms', 'p99 ms', 'mean ms'];
  console.log(`\nEnd-to-end query latency, ${sizeLabel(n)} items (70% text, 30% pictures), 512-d`);
  console.log(formatTable(header, rows));
  console.log(`\nvector paths used: ${[...used].map(([k, c]) => `${k} ${c}`).join(', ')}`);
  console.log(
    `peak RSS ${peakRssMb().toFixed(0)} MB; write ${writeSeconds.toFixed(1)} s; optimize ${optimizeSeconds.toFixed(1)} s`,
  );
  console.log(`\n${formatMarkdownTable(header, rows)}`);
  const file = writeResults('e2e', out, {
    settings: { n, dim: DIM, queries, textFraction: 0.7 },
    writeSeconds,
    optimizeSeconds,
    coldMs,
    embed: stats(embedSamples),
    hybrid: stats(hybridSamples),
    vector: stats(vectorSamples),
    timeToFirstToken: stats(ttftSamples),
    ask: stats(askSamples),
    vectorPaths: Object.fromEntries(used),
    peakRssMb: peakRssMb(),
  });
  console.log(`\nwrote ${file}`);
}

function fmt(s: { p50: number; p99: number; mean: number }): string[] {
  return [formatMs(s.p50), formatMs(s.p99), formatMs(s.mean)];
}

await main();
