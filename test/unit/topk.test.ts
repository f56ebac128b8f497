import { describe, expect, it } from 'vitest';
import { softmaxTopK, topK } from '../../src/vector/topk.js';
import { seededRandom as random } from '../helpers/random.js';

/** Scores in [-1, 1); `levels` > 0 quantizes them so that many rows tie. */
function randomScores(n: number, seed: number, levels = 0): Float32Array {
  const next = random(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = next() * 2 - 1;
    out[i] = levels > 0 ? Math.round(x * levels) / levels : x;
  }
  return out;
}

/** The naive method: every item, a full stable sort, then filter and slice. */
function naiveTopK(scores: Float32Array, k: number, minScore = Number.NEGATIVE_INFINITY) {
  return [...scores]
    .map((score, index) => ({ index, score }))
    .filter((item) => item.score >= minScore)
    .sort((a, b) => b.score - a.score)
    .slice(0, Math.max(0, k));
}

/** The reference `similarity_search`: softmax over all, full sort, Python-style filtering loop, first k. */
function naiveSoftmaxTopK(scores: Float32Array, temperature: number, k: number, threshold: number) {
  const logits = [...scores].map((s) => s / temperature);
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  let sum = 0;
  for (const e of exps) sum += e;
  const items = exps.map((e, index) => ({ index, score: e / sum, logit: scores[index]! }));
  items.sort((a, b) => b.score - a.score);
  const kept = [];
  for (const item of items) if (item.score >= threshold) kept.push(item);
  return kept.slice(0, Math.max(0, k));
}

describe('topK', () => {
  it('returns the highest scores, ties by lower index first', () => {
    const scores = new Float32Array([0.5, 0.9, 0.1, 0.9, -2]);
    expect(topK(scores, 3)).toEqual([
      { index: 1, score: Math.fround(0.9) },
      { index: 3, score: Math.fround(0.9) },
      { index: 0, score: 0.5 },
    ]);
    expect(topK(scores, 10, 0.2)).toEqual([
      { index: 1, score: Math.fround(0.9) },
      { index: 3, score: Math.fround(0.9) },
      { index: 0, score: 0.5 },
    ]);
    expect(topK(scores, 0)).toEqual([]);
    expect(topK(new Float32Array(0), 5)).toEqual([]);
  });

  it('skips NaN scores', () => {
    expect(topK(new Float32Array([Number.NaN, 1, Number.NaN, 2]), 3)).toEqual([
      { index: 3, score: 2 },
      { index: 1, score: 1 },
    ]);
  });

  it('matches the naive sort on random data, with and without ties', () => {
    for (const [n, levels] of [
      [1, 0],
      [50, 0],
      [5000, 0],
      [5000, 20],
      [3000, 3],
    ] as const) {
      const scores = randomScores(n, n + levels, levels);
      for (const k of [1, 2, 10, 100, n, n + 5]) {
        for (const minScore of [Number.NEGATIVE_INFINITY, 0, 0.95]) {
          expect(topK(scores, k, minScore)).toEqual(naiveTopK(scores, k, minScore));
        }
      }
    }
  });
});

describe('softmaxTopK', () => {
  it('computes the probabilities of a hand-worked case', () => {
    const hits = softmaxTopK(new Float32Array([1, 2, 3]), 1, 3, 0);
    expect(hits.map((h) => h.index)).toEqual([2, 1, 0]);
    expect(hits.map((h) => h.logit)).toEqual([3, 2, 1]);
    const probabilities = hits.map((h) => h.score);
    [0.6652, 0.2447, 0.09].forEach((p, i) => {
      expect(probabilities[i]).toBeCloseTo(p, 4);
    });
    // Temperature 0.5: exp(6), exp(4), exp(2) normalised = 0.8668, 0.1173, 0.0159.
    const sharper = softmaxTopK(new Float32Array([1, 2, 3]), 0.5, 3, 0.1);
    expect(sharper.map((h) => h.index)).toEqual([2, 1]);
    expect(sharper[0]!.score).toBeCloseTo(0.8668, 4);
    expect(sharper[1]!.score).toBeCloseTo(0.1173, 4);
    expect(softmaxTopK(new Float32Array([1, 2, 3]), 1, 1, 0)).toEqual([hits[0]]);
  });

  it('drops everything when the threshold exceeds every probability (the reference at scale)', () => {
    const scores = randomScores(10_000, 42);
    expect(softmaxTopK(scores, 0.25, 15, 0.01)).toEqual([]);
  });

  it('reproduces the naive method exactly on random data, with and without ties', () => {
    for (const [n, levels] of [
      [1, 0],
      [7, 0],
      [2000, 0],
      [2000, 10],
      [20_000, 0],
      [20_000, 50],
    ] as const) {
      const scores = randomScores(n, n * 7 + levels, levels);
      for (const temperature of [0.01, 0.25, 0.5, 3]) {
        // The naive method once per temperature; its filter and slice are applied below per case.
        const everything = naiveSoftmaxTopK(scores, temperature, n, Number.NEGATIVE_INFINITY);
        for (const k of [1, 5, 15, n + 1]) {
          for (const threshold of [0, 1e-6, 1e-3, 0.01, 0.25]) {
            const expected = everything.filter((item) => item.score >= threshold).slice(0, k);
            expect(softmaxTopK(scores, temperature, k, threshold)).toEqual(expected);
          }
        }
      }
    }
  });

  it('returns nothing for NaN or infinite scores, like the naive method', () => {
    expect(softmaxTopK(new Float32Array([1, Number.NaN, 2]), 1, 3, 0)).toEqual([]);
    expect(softmaxTopK(new Float32Array([1, Number.POSITIVE_INFINITY]), 1, 3, 0)).toEqual(
      naiveSoftmaxTopK(new Float32Array([1, Number.POSITIVE_INFINITY]), 1, 3, 0),
    );
    expect(softmaxTopK(new Float32Array(0), 1, 3, 0)).toEqual([]);
  });

  it('rejects a temperature that is not positive', () => {
    expect(() => softmaxTopK(new Float32Array([1]), 0, 1, 0)).toThrow(RangeError);
    expect(() => softmaxTopK(new Float32Array([1]), Number.NaN, 1, 0)).toThrow(/temperature/);
  });
});
