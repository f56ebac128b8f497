/** Shared pieces of the benchmarks: seeded data, timing statistics, exact ground truth, table printing. */
import { mkdirSync, writeFileSync } from 'node:fs';
import osModule from 'node:os';
import pathModule from 'node:path';
import { dotAllPlain } from '../src/vector/dot.js';
import { encodeModule, F32, I32, op, V128 } from '../src/vector/wasm/encoder.js';
import { seededRandom } from '../test/helpers/random.js';

export { seededRandom };

/** Fills `out` with standard normal samples (Box-Muller). */
export function fillGaussian(out: Float32Array, random: () => number, scale = 1): void {
  for (let i = 0; i < out.length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random())) * scale;
    const angle = 2 * Math.PI * random();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = radius * Math.sin(angle);
  }
}

export function normalizeRows(rows: Float32Array, dim: number): void {
  for (let base = 0; base < rows.length; base += dim) {
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += rows[base + j]! * rows[base + j]!;
    const inverse = 1 / Math.sqrt(norm);
    for (let j = 0; j < dim; j++) rows[base + j]! *= inverse;
  }
}

/**
 * Clustered unit vectors, like real embeddings (never uniform random: every index looks bad on those):
 * `clusters` gaussian centres on the sphere, each point a centre plus gaussian noise of norm ~`spread`,
 * normalised. With spread 0.6 two points of one cluster have cosine ~0.74.
 */
export class ClusteredVectors {
  private readonly random: () => number;
  readonly centres: Float32Array;

  constructor(
    readonly dim: number,
    readonly clusters: number,
    readonly spread: number,
    seed: number,
  ) {
    this.random = seededRandom(seed);
    this.centres = new Float32Array(clusters * dim);
    fillGaussian(this.centres, this.random);
    normalizeRows(this.centres, dim);
  }

  /** `count` new points, row-major. */
  next(count: number): Float32Array {
    const rows = new Float32Array(count * this.dim);
    fillGaussian(rows, this.random, this.spread / Math.sqrt(this.dim));
    for (let r = 0; r < count; r++) {
      const centre = Math.floor(this.random() * this.clusters) * this.dim;
      for (let j = 0; j < this.dim; j++) rows[r * this.dim + j]! += this.centres[centre + j]!;
    }
    normalizeRows(rows, this.dim);
    return rows;
  }
}

/** A query near a stored point: the point plus gaussian noise of norm ~`noise`, normalised. */
export function perturbedQuery(point: Float32Array, noise: number, random: () => number): Float32Array {
  const query = new Float32Array(point.length);
  fillGaussian(query, random, noise / Math.sqrt(point.length));
  for (let j = 0; j < point.length; j++) query[j]! += point[j]!;
  normalizeRows(query, point.length);
  return query;
}

/** The exact top k by float64 dot products (the recall reference). */
export function exactTopK(matrix: Float32Array, dim: number, query: Float32Array, k: number): number[] {
  const rows = Math.floor(matrix.length / dim);
  const best: Array<{ index: number; score: number }> = [];
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    const base = r * dim;
    for (let j = 0; j < dim; j++) sum += matrix[base + j]! * query[j]!;
    if (best.length === k && sum <= best[k - 1]!.score) continue;
    let at = best.length === k ? k - 1 : best.length;
    if (best.length === k) best.pop();
    while (at > 0 && best[at - 1]!.score < sum) at--;
    best.splice(at, 0, { index: r, score: sum });
  }
  return best.map((b) => b.index);
}

export function recallAtK(found: number[], truth: number[]): number {
  const expected = new Set(truth);
  return found.filter((i) => expected.has(i)).length / truth.length;
}

/**
 * The reference `similarity_search`, as written in the reference project (a port, in JavaScript): the full
 * product into a new array, softmax over all items, a full sort of every item, then a Python-style loop that
 * keeps the items scoring >= threshold, then the first k.
 */
export function referenceSearch(
  matrix: Float32Array,
  dim: number,
  query: Float32Array,
  k: number,
  threshold: number,
  temperature: number,
): Array<{ index: number; score: number }> {
  const similarities = dotAllPlain(matrix, dim, query);
  let max = Number.NEGATIVE_INFINITY;
  for (const s of similarities) max = Math.max(max, s / temperature);
  const exps = Array.from(similarities, (s) => Math.exp(s / temperature - max));
  let sum = 0;
  for (const e of exps) sum += e;
  const items = exps.map((e, index) => ({ index, score: e / sum }));
  items.sort((a, b) => b.score - a.score);
  const kept: Array<{ index: number; score: number }> = [];
  for (const item of items) if (item.score >= threshold) kept.push(item);
  return kept.slice(0, k);
}

/**
 * The physical floor of an exact scan: a WebAssembly SIMD loop that only reads the bytes once (sums them in
 * four f32x4 accumulators), in the same memory as the vectors. `read(start, bytes)`; bytes a multiple of 64.
 */
export function memoryReadFloor(memory: WebAssembly.Memory): (start: number, bytes: number) => number {
  const [PTR, END, A0, A1, A2, A3] = [0, 1, 2, 3, 4, 5];
  const accumulate = (acc: number, offset: number) => [
    ...op.get(acc),
    ...op.get(PTR),
    ...op.v128Load(offset),
    ...op.f32x4Add,
    ...op.set(acc),
  ];
  const bytes = encodeModule([
    {
      name: 'read',
      params: [I32, I32],
      results: [F32],
      locals: [V128, V128, V128, V128],
      body: [
        [...op.get(PTR), ...op.get(END), ...op.i32Add, ...op.set(END)],
        [...op.block, ...op.loop],
        [...op.get(PTR), ...op.get(END), ...op.i32GeU, ...op.brIf(1)],
        accumulate(A0, 0),
        accumulate(A1, 16),
        accumulate(A2, 32),
        accumulate(A3, 48),
        [...op.get(PTR), ...op.i32(64), ...op.i32Add, ...op.set(PTR)],
        [...op.br(0), ...op.end, ...op.end],
        [...op.get(A0), ...op.get(A1), ...op.f32x4Add, ...op.get(A2), ...op.f32x4Add, ...op.get(A3)],
        [...op.f32x4Add, ...op.set(A0)],
        [...op.get(A0), ...op.f32x4Lane(0), ...op.get(A0), ...op.f32x4Lane(1), ...op.f32Add],
        [...op.get(A0), ...op.f32x4Lane(2), ...op.f32Add, ...op.get(A0), ...op.f32x4Lane(3), ...op.f32Add],
      ],
    },
  ]);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  return instance.exports.read as (start: number, bytes: number) => number;
}

/** Nearest-rank percentile of the samples (p in 0..100). */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Milliseconds taken by each call of `run(i)` for i in 0..count-1, after `warmup` untimed calls. */
export function timeEach(count: number, warmup: number, run: (i: number) => void): number[] {
  for (let i = 0; i < warmup; i++) run(i % count);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    run(i);
    samples.push(performance.now() - start);
  }
  return samples;
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** A plain-text table with right-aligned numeric columns. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A Markdown table (for docs/benchmarks.md). */
export function formatMarkdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, c) => (c === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** Like `timeEach`, for asynchronous calls (awaited one after the other). */
export async function timeEachAsync(
  count: number,
  warmup: number,
  run: (i: number) => Promise<void>,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await run(i % count);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await run(i);
    samples.push(performance.now() - start);
  }
  return samples;
}

/** `12.3` style milliseconds: 3 significant digits. */
export function formatMs(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** Parses `10k`, `1m`, `5000`. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!match) throw new Error(`bad size "${text}": use e.g. 10k, 100k, 1m or 5000`);
  const scale = { '': 1, k: 1e3, m: 1e6 }[match[2]!.toLowerCase() as '' | 'k' | 'm'];
  return Math.round(Number(match[1]) * scale);
}

export function sizeLabel(n: number): string {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}

/** Machine facts every result file records. */
export function machineInfo(): {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  platform: string;
} {
  const cpus = osModule.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(osModule.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${osModule.platform()} ${osModule.release()}`,
  };
}

/** Writes a result file under bench/results/ (or `out`) and says where. */
export function writeResults(name: string, out: string | null, data: unknown): string {
  const date = new Date().toISOString().slice(0, 10);
  const file = out ?? pathModule.join(process.cwd(), 'bench', 'results', `${name}-${date}.json`);
  mkdirSync(pathModule.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ date, machine: machineInfo(), ...(data as object) }, null, 2)}\n`);
  return file;
}
