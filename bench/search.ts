/**
 * Search latency and recall over synthetic clustered unit vectors of CLIP width (512).
 * Build and run from the project root (see bench/README.md):
 *   npx tsc -p bench/tsconfig.json && node node_modules/.cache/mmrag-bench/bench/search.js --sizes 10k,100k
 * Each size runs in its own child process so that its peak RSS is its own.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dotAllPlain } from '../src/retrieve/dot.js';
import { VectorMatrix } from '../src/retrieve/simd.js';
import { softmaxTopK, topK } from '../src/retrieve/topk.js';
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
} from './lib.js';

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
}

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!match) throw new Error(`bad size "${text}": use e.g. 10k, 100k, 1m or 5000`);
  const scale = { '': 1, k: 1e3, m: 1e6 }[match[2]!.toLowerCase() as '' | 'k' | 'm'];
  return Math.round(Number(match[1]) * scale);
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    sizes: [10_000, 100_000],
    queries: 50,
    refQueries: null,
    seed: 1,
    out: null,
    child: null,
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
    else if (flag === '--help') {
      console.log(
        'usage: search.js [--sizes 10k,100k,1m] [--queries 50] [--ref-queries N] [--seed 1] [--out file.json]',
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
function runSize(n: number, options: Options): SizeResult {
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

  return {
    n,
    dim: DIM,
    simd: matrix.usesSimd,
    queries: queries.length,
    referenceQueries,
    generateSeconds,
    matrixMb: (n * DIM * 4) / 2 ** 20,
    rssDuringExactMb,
    peakRssMb: peakRssMb(),
    referenceAgreement: agreeing / referenceQueries,
    referenceHitsAtDefaults: hitsAtDefaults / queries.length,
    methods,
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

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  if (options.child !== null) {
    process.stdout.write(`${JSON.stringify(runSize(options.child, options))}\n`);
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
  console.log(formatTable(latency.header, latency.rows));
  console.log(`\n${formatTable(memory.header, memory.rows)}`);
  console.log(
    `\n${formatMarkdownTable(latency.header, latency.rows)}\n\n${formatMarkdownTable(memory.header, memory.rows)}`,
  );
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

main();
