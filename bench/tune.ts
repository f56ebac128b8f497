/**
 * Training cost of `mmrag tune`'s query adapter: 2,000 training pairs at the real CLIP width (512), in plain
 * TypeScript on the CPU. The data is synthetic, so that the task is known: stored items are clustered unit vectors,
 * and a query is a fixed linear distortion of its item plus noise (what the adapter must undo). Times the trainer
 * alone (query embedding is the model's cost, measured by bench/ingest.ts for the text tower); reports seconds per
 * run and per epoch, and the held-out figures before and after as a check that the run learned something.
 *   npx tsc -p bench/tsconfig.json && node node_modules/.cache/mmrag-bench/bench/tune.js [--pairs 2000] [--dim 512]
 */
import { heldOutFigures, type RankingExample } from '../src/tune/heldout.js';
import { type TrainingExample, type TrainResult, trainAdapter } from '../src/tune/train.js';
import { applyMap, identityMap } from '../src/vector/linear-map.js';
import { VectorMatrix } from '../src/vector/matrix.js';
import {
  ClusteredVectors,
  fillGaussian,
  formatMarkdownTable,
  formatTable,
  normalizeRows,
  peakRssMb,
  percentile,
  seededRandom,
  writeResults,
} from './lib.js';

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const PAIRS = flag('pairs', 2000);
const DIM = flag('dim', 512);
const HELD_OUT = flag('held-out', 300);
const ITEMS = flag('items', 5000);
const RUNS = flag('runs', 3);

function log(message: string): void {
  process.stderr.write(`[tune bench] ${message}\n`);
}

/** Items, and for each a query: (0.15 I + G / sqrt(dim)) t + noise, G gaussian: mostly a random linear map. */
function makeTask() {
  const random = seededRandom(17);
  const items = new ClusteredVectors(DIM, 400, 0.6, 3).next(ITEMS);
  const distortion = identityMap(DIM);
  if (distortion.kind === 'full') {
    const g = new Float32Array(DIM * DIM);
    fillGaussian(g, random, 1 / Math.sqrt(DIM));
    for (let i = 0; i < DIM * DIM; i++) distortion.matrix[i] = distortion.matrix[i]! * 0.15 + g[i]!;
  }
  const queryOf = (row: number) => {
    const q = applyMap(distortion, items.subarray(row * DIM, (row + 1) * DIM));
    const noise = new Float32Array(DIM);
    fillGaussian(noise, random, 0.3 / Math.sqrt(DIM));
    for (let j = 0; j < DIM; j++) q[j]! += noise[j]!;
    normalizeRows(q, DIM);
    return q;
  };
  const matrix = new VectorMatrix(DIM, { initialCapacity: ITEMS });
  matrix.append(items);
  const train: TrainingExample[] = Array.from({ length: PAIRS }, (_, row) => ({
    query: queryOf(row),
    modality: 'text',
    target: row,
    key: String(row),
  }));
  const heldOut = (first: number): RankingExample[] =>
    Array.from({ length: HELD_OUT }, (_, i) => ({
      query: queryOf(first + i),
      modality: 'text',
      target: first + i,
    }));
  return { matrix, train, validation: heldOut(PAIRS), test: heldOut(PAIRS + HELD_OUT) };
}

interface Case {
  name: string;
  rank?: number;
  /** No early stopping: every epoch runs (the worst case). */
  full?: boolean;
}

const CASES: Case[] = [
  { name: 'full matrix, early stopping (default)' },
  { name: 'full matrix, 30 epochs', full: true },
  { name: 'low-rank 32, early stopping', rank: 32 },
];

const task = makeTask();
const items = { text: task.matrix };
log(
  `${PAIRS} training pairs, ${HELD_OUT} validation and ${HELD_OUT} test pairs, ${ITEMS} items, ${DIM}-d, ${RUNS} runs per case`,
);
const before = heldOutFigures(task.test, items, undefined, 1);
const results: Array<Record<string, unknown>> = [];
const rows: string[][] = [];
for (const c of CASES) {
  const seconds: number[] = [];
  const epochs: number[] = [];
  const perEpoch: number[] = [];
  let last: TrainResult | undefined;
  for (let run = 0; run < RUNS; run++) {
    last = trainAdapter({
      dim: DIM,
      items,
      train: task.train,
      validation: task.validation,
      settings: { seed: 1 + run, rank: c.rank, ...(c.full ? { epochs: 30, patience: 30 } : {}) },
    });
    seconds.push(last.seconds);
    epochs.push(last.history.length);
    perEpoch.push(last.seconds / last.history.length);
    log(`${c.name}, run ${run + 1}: ${last.seconds.toFixed(2)} s, ${last.history.length} epochs`);
  }
  const result = last!;
  const after = heldOutFigures(task.test, items, result.map, 1);
  const median = percentile(seconds, 50);
  const record = {
    case: c.name,
    seconds,
    medianSeconds: median,
    epochs,
    bestEpoch: result.bestEpoch,
    secondsPerEpoch: percentile(perEpoch, 50),
    testBefore: { recallAt1: before.recall, mrr: before.mrr },
    testAfter: { recallAt1: after.recall, mrr: after.mrr },
  };
  results.push(record);
  rows.push([
    c.name,
    median.toFixed(1),
    epochs.join(', '),
    percentile(perEpoch, 50).toFixed(2),
    `${before.recall.toFixed(3)} -> ${after.recall.toFixed(3)}`,
    `${before.mrr.toFixed(3)} -> ${after.mrr.toFixed(3)}`,
  ]);
}
const header = [
  'case',
  's (median)',
  'epochs per run',
  's/epoch (median)',
  'test R@1 (last run)',
  'test MRR',
];
process.stdout.write(`${formatTable(header, rows)}\n\n${formatMarkdownTable(header, rows)}\n`);
const file = writeResults('tune', null, {
  settings: { pairs: PAIRS, dim: DIM, heldOut: HELD_OUT, items: ITEMS, runs: RUNS },
  peakRssMb: peakRssMb(),
  results,
});
log(`results: ${file}`);
