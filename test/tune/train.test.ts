import { describe, expect, it } from 'vitest';
import { heldOutFigures, type RankingExample } from '../../src/tune/heldout.js';
import { fillGaussian, seededRandom } from '../../src/tune/random.js';
import { type TrainingExample, trainAdapter } from '../../src/tune/train.js';
import { adaptQuery, applyMap, distanceFromIdentity, identityMap } from '../../src/vector/linear-map.js';
import { VectorMatrix } from '../../src/vector/matrix.js';

function unitRows(count: number, dim: number, random: () => number): Float32Array {
  const rows = fillGaussian(new Float32Array(count * dim), random);
  for (let r = 0; r < count; r++) {
    let sum = 0;
    for (let j = 0; j < dim; j++) sum += rows[r * dim + j]! ** 2;
    const inverse = 1 / Math.sqrt(sum);
    for (let j = 0; j < dim; j++) rows[r * dim + j]! *= inverse;
  }
  return rows;
}

/**
 * Items are random unit vectors; the query of an item is `A t + noise` for one fixed random matrix `A` (a
 * strong distortion: without an adapter the target is rarely first). Items 0..trainItems-1 give training pairs,
 * the rest are held out (half validation, half test), as `mmrag tune` splits by item.
 */
function distortedTask(options: {
  dim: number;
  items: number;
  trainItems: number;
  noise: number;
  seed: number;
}) {
  const { dim, items, trainItems, noise, seed } = options;
  const random = seededRandom(seed);
  const stored = unitRows(items, dim, random);
  // A = 0.3 I + G / sqrt(dim): mostly a random linear map.
  const a = fillGaussian(new Float32Array(dim * dim), random, 1 / Math.sqrt(dim));
  for (let i = 0; i < dim; i++) a[i * dim + i]! += 0.3;
  const queryOf = (row: number) => {
    const q = applyMap({ kind: 'full', dim, matrix: a }, stored.subarray(row * dim, (row + 1) * dim));
    const jitter = fillGaussian(new Float32Array(dim), random, noise / Math.sqrt(dim));
    // A raw CLIP text projection is not unit length: scale it as one would be.
    return q.map((x, j) => (x + jitter[j]!) * 7.5);
  };
  const matrix = new VectorMatrix(dim, { initialCapacity: items });
  matrix.append(stored);
  const train: TrainingExample[] = [];
  for (let row = 0; row < trainItems; row++) {
    // Two phrasings per item, as captions and questions give.
    for (let n = 0; n < 2; n++)
      train.push({ query: queryOf(row), modality: 'image', target: row, key: `${row}/${n}` });
  }
  const heldOut: RankingExample[] = [];
  for (let row = trainItems; row < items; row++)
    heldOut.push({ query: queryOf(row), modality: 'image', target: row });
  const half = Math.floor(heldOut.length / 2);
  return { matrix, train, validation: heldOut.slice(0, half), test: heldOut.slice(half) };
}

describe('trainAdapter', () => {
  it('recovers a known linear distortion: held-out Recall@1 goes from low to near 1', () => {
    const task = distortedTask({ dim: 32, items: 1000, trainItems: 700, noise: 0.05, seed: 11 });
    const items = { image: task.matrix };
    const before = heldOutFigures(task.test, items, undefined, 1);
    const result = trainAdapter({
      dim: 32,
      items,
      train: task.train,
      validation: task.validation,
      settings: { epochs: 40, seed: 3 },
    });
    const after = heldOutFigures(task.test, items, result.map, 1);
    console.log(
      `synthetic distortion, ${task.test.length} held-out items of 1000: Recall@1 ${before.recall.toFixed(3)} -> ${after.recall.toFixed(3)}, ` +
        `MRR ${before.mrr.toFixed(3)} -> ${after.mrr.toFixed(3)} (best epoch ${result.bestEpoch}, ${result.seconds.toFixed(2)} s)`,
    );
    expect(before.recall).toBeLessThan(0.3);
    expect(after.recall).toBeGreaterThan(0.9);
    expect(after.mrr).toBeGreaterThan(0.93);
    expect(result.best.mrr).toBeGreaterThan(result.before.mrr);
  });

  it('the low-rank form W = I + U V^T learns a low-rank distortion', () => {
    const dim = 48;
    const random = seededRandom(5);
    const stored = unitRows(900, dim, random);
    // Queries lose most of 4 directions and gain a mix of them elsewhere: a rank-4 change.
    const u = fillGaussian(new Float32Array(dim * 4), random, 1.5);
    const v = fillGaussian(new Float32Array(dim * 4), random, 1.5 / Math.sqrt(dim));
    const distortion = { kind: 'low-rank' as const, dim, rank: 4, u, v };
    const matrix = new VectorMatrix(dim, { initialCapacity: 900 });
    matrix.append(stored);
    const example = (row: number) => ({
      query: applyMap(distortion, stored.subarray(row * dim, (row + 1) * dim)),
      modality: 'image' as const,
      target: row,
    });
    const train = Array.from({ length: 600 }, (_, row) => ({ ...example(row), key: String(row) }));
    const validation = Array.from({ length: 150 }, (_, i) => example(600 + i));
    const test = Array.from({ length: 150 }, (_, i) => example(750 + i));
    const result = trainAdapter({
      dim,
      items: { image: matrix },
      train,
      validation,
      settings: { rank: 8, epochs: 40, learningRate: 5e-3, seed: 2 },
    });
    expect(result.map.kind).toBe('low-rank');
    const before = heldOutFigures(test, { image: matrix }, undefined, 1);
    const after = heldOutFigures(test, { image: matrix }, result.map, 1);
    console.log(
      `low-rank (rank 8) on a rank-4 distortion: Recall@1 ${before.recall.toFixed(3)} -> ${after.recall.toFixed(3)}, MRR ${before.mrr.toFixed(3)} -> ${after.mrr.toFixed(3)}`,
    );
    expect(after.mrr).toBeGreaterThan(before.mrr + 0.2);
  });

  it('keeps the identity when the queries already match their targets', () => {
    const dim = 16;
    const random = seededRandom(9);
    const stored = unitRows(300, dim, random);
    const matrix = new VectorMatrix(dim, { initialCapacity: 300 });
    matrix.append(stored);
    const example = (row: number) => ({
      query: stored.slice(row * dim, (row + 1) * dim),
      modality: 'image' as const,
      target: row,
    });
    const result = trainAdapter({
      dim,
      items: { image: matrix },
      train: Array.from({ length: 200 }, (_, row) => ({ ...example(row), key: String(row) })),
      validation: Array.from({ length: 100 }, (_, i) => example(200 + i)),
      settings: { epochs: 5, seed: 1 },
    });
    // Nothing beats a perfect ranking: the identity is returned, untouched.
    expect(result.before.mrr).toBe(1);
    expect(result.bestEpoch).toBe(0);
    expect(distanceFromIdentity(result.map)).toBe(0);
  });

  it('is deterministic for a seed', () => {
    const task = distortedTask({ dim: 16, items: 300, trainItems: 200, noise: 0.05, seed: 4 });
    const run = () =>
      trainAdapter({
        dim: 16,
        items: { image: task.matrix },
        train: task.train,
        validation: task.validation,
        settings: { epochs: 3, seed: 8 },
      });
    const a = run();
    const b = run();
    expect(a.history.map((h) => h.loss)).toEqual(b.history.map((h) => h.loss));
    expect(Array.from(applyMap(a.map, task.test[0]!.query))).toEqual(
      Array.from(applyMap(b.map, task.test[0]!.query)),
    );
  });

  it('adaptQuery keeps the raw query length (softmax temperatures keep their meaning)', () => {
    const random = seededRandom(1);
    const q = fillGaussian(new Float32Array(8), random, 3);
    const map = identityMap(8);
    if (map.kind === 'full') map.matrix[3] = 2;
    const adapted = adaptQuery(map, q);
    const norm = (x: Float32Array) => Math.hypot(...x);
    expect(norm(adapted)).toBeCloseTo(norm(q), 4);
    expect(Array.from(adapted)).not.toEqual(Array.from(q));
  });
});
