/**
 * Search latency and recall over synthetic clustered unit vectors of CLIP width (512).
 * Build and run from the project root (see bench/README.md):
 *   npx tsc -p bench/tsconfig.json && node node_modules/.cache/mmrag-bench/bench/search.js --sizes 10k,100k
 * Each size runs in its own child process so that its peak RSS is its own.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rankVectors, setVectorSearchListener, type VectorSearchMethod } from '../src/retrieve/search.js';
import { LanceStore } from '../src/store/lance.js';
import { dotAllPlain } from '../src/vector/dot.js';
import { VectorMatrix } from '../src/vector/matrix.js';
import { softmaxTopK, topK } from '../src/vector/topk.js';
import {
  ClusteredVectors,
  exactTopK,
  formatMarkdownTable,
  formatTable,
  memoryReadFloor,
  peakRssMb,
  percentile,
  perturbedQuery,
  recallAtK,
  referenceSearch,
  seededRandom,
  timeEach,
  timeEachAsync,
} from './lib.js';
import { writeSyntheticRows } from './synthetic-kb.js';

const DIM = 512;
const K = 10;
const CLUSTERS = 1000;
const SPREAD = 0.6;
const QUERY_NOISE = 0.3;
/** Untimed calls before each timed series (lets V8 tier the WebAssembly and JavaScript up). */
const WARMUP = 10;
/** The reference's text defaults; the timed reference run keeps every item (threshold 0) so recall means something. */
const REFERENCE_TEMPERATURE = 0.25;
const REFERENCE_TEXT_K = 15;
const REFERENCE_TEXT_THRESHOLD = 0.01;

interface Options {
  sizes: number[];
  queries: number;
  refQueries: number | null;
  seed: number;
  out: string | null;
  child: number | null;
  /** Skip the ANN index (row c): no LanceDB table is written. */
  noAnn: boolean;
  /** Internal: query an existing store in a fresh process (its RSS is the ANN search's own). */
  annQueryChild: string | null;
}

interface AnnResult {
  writeSeconds: number;
  /** store.optimize(): full-text index, compaction, and the IVF_HNSW_SQ build. */
  buildSeconds: number;
  /** Filtered queries (an allow-list of a fraction of the items): recall against the exact filtered top 10. */
  filtered: Array<{ fraction: number; p50: number; p99: number; recall: number; methods: string }>;
  /** A fresh process opening the store and running the same queries. */
  fresh: {
    firstQueryMs: number;
    p50: number;
    recall: number;
    peakRssMb: number;
    /** Resident memory after opening the store, after the first query, and after every query. */
    rssOpenMb: number;
    rssFirstMb: number;
    rssEndMb: number;
  } | null;
}

interface MethodResult {
  label: string;
  p50: number;
  p99: number;
  mean: number;
  samples: number;
  recall: number | null;
}

interface SizeResult {
  n: number;
  dim: number;
  simd: boolean;
  queries: number;
  referenceQueries: number;
  generateSeconds: number;
  matrixMb: number;
  rssDuringExactMb: number;
  peakRssMb: number;
  /** Fraction of queries where mmrag's softmaxTopK returned the same items in the same order as the reference. */
  referenceAgreement: number;
  /** Mean number of hits the reference returns with its own text defaults (k 15, threshold 0.01, T 0.25). */
  referenceHitsAtDefaults: number;
  methods: Record<string, MethodResult>;
  ann?: AnnResult;
}

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!match) throw new Error(`bad size "${text}": use e.g. 10k, 100k, 1m or 5000`);
  const scale = { '': 1, k: 1e3, m: 1e6 }[match[2]!.toLowerCase() as '' | 'k' | 'm'];
  return Math.round(Number(match[1]) * scale);
}

const ANN_PARAMS = { k: K, threshold: -1, temperature: 1 };

/** The ANN store's data: the same vectors and queries, so recall is against the same truth. */
async function runAnn(
  n: number,
  matrix: VectorMatrix,
  queries: Float32Array[],
  truth: number[][],
  methods: Record<string, MethodResult>,
): Promise<AnnResult> {
  const dir = path.join(os.tmpdir(), `mmrag-bench-ann-${n}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const store = await LanceStore.open(dir, { ann: { threshold: 1, columns: ['vector'] } });
  const rows = matrix.view();
  log(`N=${n}: writing ${n} rows into LanceDB`);
  const writeSeconds = await writeSyntheticRows(store, {
    n,
    dim: DIM,
    vectorOf: (first, count) => rows.slice(first * DIM, (first + count) * DIM),
  });
  log(`N=${n}: written in ${writeSeconds.toFixed(1)} s; building the index (optimize)`);
  const buildStart = performance.now();
  await store.optimize();
  const buildSeconds = (performance.now() - buildStart) / 1000;
  log(`N=${n}: optimize + IVF_HNSW_SQ build ${buildSeconds.toFixed(1)} s`);
  const used: VectorSearchMethod[] = [];
  setVectorSearchListener((u) => used.push(u.method));
  const indexOf = (id: string) => Number(id.slice(1));
  const annFound: number[][] = [];
  const annSamples = await timeEachAsync(queries.length, WARMUP, async (i) => {
    const ranking = await rankVectors(
      store,
      'image',
      'vector',
      queries[i]!,
      ANN_PARAMS,
      'cosine',
      K,
      undefined,
    );
    annFound[i] = ranking!.ranked.map((r) => indexOf(r.id));
  });
  if (used.some((m) => m !== 'ann')) throw new Error('the ANN row did not use the index');
  methods.ann = summarize(
    'mmrag ANN: LanceDB IVF_HNSW_SQ + exact re-score',
    annSamples,
    meanRecall(annFound, truth),
  );

  const scores = new Float32Array(n);
  const filtered: AnnResult['filtered'] = [];
  for (const fraction of [0.5, 0.1, 0.01]) {
    const modulus = Math.round(1 / fraction);
    const allowed = new Set<string>();
    for (let i = 0; i < n; i += modulus) allowed.add(`r${i}`);
    const filteredTruth = queries.map((q) => {
      const dots = matrix.dotAll(q, scores);
      const subset = new Float32Array(Math.ceil(n / modulus));
      for (let i = 0, j = 0; i < n; i += modulus, j++) subset[j] = dots[i]!;
      return topK(subset, K).map((h) => h.index * modulus);
    });
    used.length = 0;
    const found: number[][] = [];
    const samples = await timeEachAsync(queries.length, 2, async (i) => {
      const ranking = await rankVectors(
        store,
        'image',
        'vector',
        queries[i]!,
        ANN_PARAMS,
        'cosine',
        K,
        allowed,
      );
      found[i] = ranking!.ranked.map((r) => indexOf(r.id));
    });
    const counts = new Map<string, number>();
    for (const m of used) counts.set(m, (counts.get(m) ?? 0) + 1);
    filtered.push({
      fraction,
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      recall: meanRecall(found, filteredTruth),
      methods: [...counts].map(([m, c]) => `${m} ${c}`).join(', '),
    });
  }
  setVectorSearchListener(undefined);
  await store.close();

  // The same queries from a fresh process: first-query latency and the RSS of ANN search alone.
  const queryFile = path.join(dir, 'queries.json');
  writeFileSync(queryFile, JSON.stringify({ queries: queries.map((q) => Array.from(q)), truth }));
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--ann-query-child', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const fresh =
    child.status === 0 ? (JSON.parse(child.stdout.trim().split('\n').pop()!) as AnnResult['fresh']) : null;
  rmSync(dir, { recursive: true, force: true });
  return { writeSeconds, buildSeconds, filtered, fresh };
}

async function annQueryChild(dir: string): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const data = JSON.parse(readFileSync(path.join(dir, 'queries.json'), 'utf8')) as {
    queries: number[][];
    truth: number[][];
  };
  const queries = data.queries.map((q) => Float32Array.from(q));
  const rss = () => process.memoryUsage().rss / 2 ** 20;
  const started = performance.now();
  const store = await LanceStore.open(dir, { ann: { threshold: 1, columns: ['vector'] } });
  const rssOpenMb = rss();
  const first = await rankVectors(store, 'image', 'vector', queries[0]!, ANN_PARAMS, 'cosine', K, undefined);
  const firstQueryMs = performance.now() - started;
  const rssFirstMb = rss();
  if (!first) throw new Error('no hits');
  const found: number[][] = [];
  const samples = await timeEachAsync(queries.length, WARMUP, async (i) => {
    const ranking = await rankVectors(
      store,
      'image',
      'vector',
      queries[i]!,
      ANN_PARAMS,
      'cosine',
      K,
      undefined,
    );
    found[i] = ranking!.ranked.map((r) => Number(r.id.slice(1)));
  });
  const rssEndMb = rss();
  await store.close();
  const result = {
    rssOpenMb,
    rssFirstMb,
    rssEndMb,
    firstQueryMs,
    p50: percentile(samples, 50),
    recall: meanRecall(found, data.truth),
    peakRssMb: peakRssMb(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    sizes: [10_000, 100_000],
    queries: 50,
    refQueries: null,
    seed: 1,
    out: null,
    child: null,
    noAnn: false,
    annQueryChild: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1] ?? '';
    if (flag === '--sizes') options.sizes = value.split(',').map(parseSize);
    else if (flag === '--queries') options.queries = Number(value);
    else if (flag === '--ref-queries') options.refQueries = Number(value);
    else if (flag === '--seed') options.seed = Number(value);
    else if (flag === '--out') options.out = value;
    else if (flag === '--child') options.child = parseSize(value);
    else if (flag === '--ann-query-child') options.annQueryChild = value;
    else if (flag === '--no-ann') {
      options.noAnn = true;
      continue;
    } else if (flag === '--help') {
      console.log(
        'usage: search.js [--sizes 10k,100k,1m] [--queries 50] [--ref-queries N] [--seed 1] [--no-ann] [--out file.json]',
      );
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}`);
    i++;
  }
  return options;
}

function log(message: string): void {
  process.stderr.write(`[search bench] ${message}\n`);
}

function summarize(label: string, samples: number[], recall: number | null): MethodResult {
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return {
    label,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    mean,
    samples: samples.length,
    recall,
  };
}

function meanRecall(found: number[][], truth: number[][]): number {
  return found.reduce((sum, f, i) => sum + recallAtK(f, truth[i]!), 0) / found.length;
}

/** One size, in this process. */
async function runSize(n: number, options: Options): Promise<SizeResult> {
  const random = seededRandom(options.seed * 7919 + 17);
  const generator = new ClusteredVectors(DIM, CLUSTERS, SPREAD, options.seed);
  const matrix = new VectorMatrix(DIM, { initialCapacity: n });
  const generateStart = performance.now();
  for (let done = 0; done < n; ) {
    const count = Math.min(8192, n - done);
    matrix.append(generator.next(count));
    done += count;
  }
  const generateSeconds = (performance.now() - generateStart) / 1000;
  log(`N=${n}: generated ${n} x ${DIM} clustered unit vectors in ${generateSeconds.toFixed(1)} s`);
  const rows = matrix.view();
  const queries = Array.from({ length: options.queries }, () =>
    perturbedQuery(matrix.row(Math.floor(random() * n)), QUERY_NOISE, random),
  );
  const truth = queries.map((q) => exactTopK(rows, DIM, q, K));
  log(`N=${n}: float64 ground truth for ${queries.length} queries done`);

  const scores = new Float32Array(n);
  const methods: Record<string, MethodResult> = {};
  const memory = matrix.wasmMemory;
  if (memory) {
    const read = memoryReadFloor(memory);
    const bytes = Math.floor((n * DIM * 4) / 64) * 64;
    let sink = 0;
    const samples = timeEach(queries.length, WARMUP, () => {
      sink += read(0, bytes);
    });
    if (Number.isNaN(sink)) log('floor checksum NaN');
    methods.floor = summarize('memory-read floor (read the vectors once, SIMD)', samples, null);
  }

  const simdFound: number[][] = [];
  const simdSamples = timeEach(queries.length, WARMUP, (i) => {
    simdFound[i] = topK(matrix.dotAll(queries[i]!, scores), K).map((h) => h.index);
  });
  methods.mmrag = summarize(
    `mmrag exact: VectorMatrix.dotAll${matrix.usesSimd ? ' (WASM SIMD)' : ' (plain fallback)'} + topK`,
    simdSamples,
    meanRecall(simdFound, truth),
  );
  const rssDuringExactMb = process.memoryUsage().rss / 2 ** 20;

  const softmaxFound: number[][] = [];
  const softmaxSamples = timeEach(queries.length, WARMUP, (i) => {
    softmaxFound[i] = softmaxTopK(matrix.dotAll(queries[i]!, scores), REFERENCE_TEMPERATURE, K, 0).map(
      (h) => h.index,
    );
  });
  methods.mmragSoftmax = summarize(
    'mmrag reference-exact: VectorMatrix.dotAll + softmaxTopK',
    softmaxSamples,
    meanRecall(softmaxFound, truth),
  );

  let hitsAtDefaults = 0;
  for (const q of queries) {
    hitsAtDefaults += softmaxTopK(
      matrix.dotAll(q, scores),
      REFERENCE_TEMPERATURE,
      REFERENCE_TEXT_K,
      REFERENCE_TEXT_THRESHOLD,
    ).length;
  }

  const plainFound: number[][] = [];
  const plainSamples = timeEach(queries.length, WARMUP, (i) => {
    plainFound[i] = topK(dotAllPlain(rows, DIM, queries[i]!, scores), K).map((h) => h.index);
  });
  methods.plain = summarize('plain JS loop + topK', plainSamples, meanRecall(plainFound, truth));

  const referenceQueries = Math.min(
    queries.length,
    options.refQueries ?? (n > 100_000 ? 10 : queries.length),
  );
  log(`N=${n}: reference method over ${referenceQueries} queries`);
  const referenceFound: number[][] = [];
  const referenceSamples = timeEach(referenceQueries, 1, (i) => {
    referenceFound[i] = referenceSearch(rows, DIM, queries[i]!, K, 0, REFERENCE_TEMPERATURE).map(
      (h) => h.index,
    );
  });
  methods.reference = summarize(
    'reference: full product + softmax over all + full sort + filter loop',
    referenceSamples,
    meanRecall(referenceFound, truth.slice(0, referenceQueries)),
  );
  const agreeing = referenceFound.filter((found, i) => found.join() === softmaxFound[i]!.join()).length;
  const peakBeforeAnn = peakRssMb();
  const ann = options.noAnn ? undefined : await runAnn(n, matrix, queries, truth, methods);

  return {
    n,
    dim: DIM,
    simd: matrix.usesSimd,
    queries: queries.length,
    referenceQueries,
    generateSeconds,
    matrixMb: (n * DIM * 4) / 2 ** 20,
    rssDuringExactMb,
    peakRssMb: peakBeforeAnn,
    referenceAgreement: agreeing / referenceQueries,
    referenceHitsAtDefaults: hitsAtDefaults / queries.length,
    methods,
    ann,
  };
}

function sizeLabel(n: number): string {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}

const ms = (value: number) =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);

function tableRows(results: SizeResult[]): { header: string[]; rows: string[][] } {
  const header = [
    'N',
    'method',
    'p50 ms',
    'p99 ms',
    'recall@10',
    'reference / this (p50)',
    'this / floor (p50)',
  ];
  const rows: string[][] = [];
  for (const result of results) {
    const reference = result.methods.reference!;
    const floor = result.methods.floor;
    for (const [key, method] of Object.entries(result.methods)) {
      rows.push([
        sizeLabel(result.n),
        key,
        ms(method.p50),
        ms(method.p99),
        method.recall === null ? '-' : method.recall.toFixed(3),
        key === 'floor' ? '-' : `${(reference.p50 / method.p50).toFixed(1)}x`,
        floor && key !== 'floor' ? `${(method.p50 / floor.p50).toFixed(2)}x` : '-',
      ]);
    }
  }
  return { header, rows };
}

function memoryRows(results: SizeResult[]): { header: string[]; rows: string[][] } {
  const header = [
    'N',
    'vectors MB',
    'RSS during exact search MB',
    'peak RSS MB',
    'generate s',
    'softmaxTopK = reference',
    'reference hits at its defaults',
  ];
  const rows = results.map((r) => [
    sizeLabel(r.n),
    r.matrixMb.toFixed(0),
    r.rssDuringExactMb.toFixed(0),
    r.peakRssMb.toFixed(0),
    r.generateSeconds.toFixed(1),
    `${(r.referenceAgreement * 100).toFixed(0)}% of ${r.referenceQueries}`,
    r.referenceHitsAtDefaults.toFixed(2),
  ]);
  return { header, rows };
}

function annRows(results: SizeResult[]): { header: string[]; rows: string[][] } {
  const header = [
    'N',
    'write s',
    'index build s',
    'ANN p50 ms',
    'recall@10',
    'fresh process: first query ms',
    'fresh p50 ms',
    'fresh RSS MB: open / 1st query / end / peak',
  ];
  const rows = results.flatMap((r) => {
    if (!r.ann) return [];
    const a = r.methods.ann!;
    return [
      [
        sizeLabel(r.n),
        r.ann.writeSeconds.toFixed(1),
        r.ann.buildSeconds.toFixed(1),
        ms(a.p50),
        a.recall!.toFixed(3),
        r.ann.fresh ? ms(r.ann.fresh.firstQueryMs) : '-',
        r.ann.fresh ? ms(r.ann.fresh.p50) : '-',
        r.ann.fresh
          ? [r.ann.fresh.rssOpenMb, r.ann.fresh.rssFirstMb, r.ann.fresh.rssEndMb, r.ann.fresh.peakRssMb]
              .map((x) => x.toFixed(0))
              .join(' / ')
          : '-',
      ],
    ];
  });
  return { header, rows };
}

function filteredRows(results: SizeResult[]): { header: string[]; rows: string[][] } {
  const header = ['N', 'filter keeps', 'p50 ms', 'p99 ms', 'recall@10 (vs exact filtered)', 'path taken'];
  const rows = results.flatMap((r) =>
    (r.ann?.filtered ?? []).map((f) => [
      sizeLabel(r.n),
      `${(f.fraction * 100).toFixed(0)}%`,
      ms(f.p50),
      ms(f.p99),
      f.recall.toFixed(3),
      f.methods,
    ]),
  );
  return { header, rows };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.annQueryChild !== null) {
    await annQueryChild(options.annQueryChild);
    return;
  }
  if (options.child !== null) {
    process.stdout.write(`${JSON.stringify(await runSize(options.child, options))}\n`);
    return;
  }
  const script = fileURLToPath(import.meta.url);
  const results: SizeResult[] = [];
  for (const n of options.sizes) {
    const args = [
      script,
      '--child',
      String(n),
      '--queries',
      String(options.queries),
      '--seed',
      String(options.seed),
    ];
    if (options.refQueries !== null) args.push('--ref-queries', String(options.refQueries));
    if (options.noAnn) args.push('--no-ann');
    const child = spawnSync(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    if (child.status !== 0)
      throw new Error(`the run at N=${n} failed (exit ${child.status ?? child.signal})`);
    results.push(JSON.parse(child.stdout.trim().split('\n').pop()!) as SizeResult);
  }
  const latency = tableRows(results);
  const memory = memoryRows(results);
  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
  console.log(
    `\nSearch latency, top-${K} over ${DIM}-d clustered unit vectors (${machine.cores} cores, ${machine.cpu})`,
  );
  const ann = annRows(results);
  const filtered = filteredRows(results);
  const tables = [latency, memory, ann, filtered].filter((t) => t.rows.length > 0);
  for (const t of tables) console.log(`\n${formatTable(t.header, t.rows)}`);
  console.log(`\n${tables.map((t) => formatMarkdownTable(t.header, t.rows)).join('\n\n')}`);
  const date = new Date().toISOString().slice(0, 10);
  const out = options.out ?? path.join(process.cwd(), 'bench', 'results', `search-${date}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  const settings = {
    dim: DIM,
    k: K,
    clusters: CLUSTERS,
    spread: SPREAD,
    queryNoise: QUERY_NOISE,
    seed: options.seed,
  };
  writeFileSync(out, `${JSON.stringify({ date, machine, settings, results }, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
}

await main();
