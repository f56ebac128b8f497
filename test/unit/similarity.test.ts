import { describe, expect, it } from 'vitest';
import {
  cosineSearch,
  referenceSimilaritySearch,
  softmaxSearch,
  topK,
  vectorNorm,
} from '../../src/vector/similarity.js';

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('referenceSimilaritySearch', () => {
  it('matches hand-computed softmax probabilities', () => {
    // softmax([1,2,3]) = [0.0900, 0.2447, 0.6652]
    const hits = referenceSimilaritySearch([1, 2, 3], { k: 3, threshold: 0, temperature: 1 });
    expect(hits.map((h) => h.index)).toEqual([2, 1, 0]);
    expect(hits[0]!.score).toBeCloseTo(0.66524, 4);
    expect(hits[1]!.score).toBeCloseTo(0.24473, 4);
    expect(hits[2]!.score).toBeCloseTo(0.09003, 4);
  });

  it('divides by the temperature before the softmax', () => {
    // [0.25, 0.5] / 0.25 = [1, 2] -> [0.2689, 0.7311]
    const hits = referenceSimilaritySearch([0.25, 0.5], { k: 2, threshold: 0, temperature: 0.25 });
    expect(hits[0]).toEqual({ index: 1, score: expect.closeTo(0.731059, 5) });
    expect(hits[1]!.score).toBeCloseTo(0.268941, 5);
  });

  it('keeps scores at or above the threshold, then the first k', () => {
    const sims = [1, 2, 3];
    expect(
      referenceSimilaritySearch(sims, { k: 3, threshold: 0.2, temperature: 1 }).map((h) => h.index),
    ).toEqual([2, 1]);
    expect(
      referenceSimilaritySearch(sims, { k: 1, threshold: 0.01, temperature: 1 }).map((h) => h.index),
    ).toEqual([2]);
    expect(referenceSimilaritySearch(sims, { k: 5, threshold: 0.9, temperature: 1 })).toEqual([]);
  });
});

describe('softmaxSearch', () => {
  it('returns exactly what the reference returns, on random data', () => {
    const rand = seeded(7);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rand() * 300);
      const sims = Float32Array.from({ length: n }, () => rand() * 2 - 1);
      const params = {
        k: Math.floor(rand() * 20),
        threshold: [0, 0.001, 0.01, 0.05, 0.25][Math.floor(rand() * 5)]!,
        temperature: [0.05, 0.25, 0.5, 1][Math.floor(rand() * 4)]!,
      };
      const expected = referenceSimilaritySearch(sims, params);
      const got = softmaxSearch(sims, params);
      expect(got.map((h) => h.index)).toEqual(expected.map((h) => h.index));
      got.forEach((h, i) => {
        expect(h.score).toBeCloseTo(expected[i]!.score, 12);
      });
    }
  });

  it('breaks ties by the lower index, like a stable sort', () => {
    const hits = softmaxSearch([0.5, 0.9, 0.9, 0.1], { k: 2, threshold: 0, temperature: 1 });
    expect(hits.map((h) => h.index)).toEqual([1, 2]);
  });

  it('handles an empty set and k = 0', () => {
    expect(softmaxSearch([], { k: 5, threshold: 0, temperature: 1 })).toEqual([]);
    expect(softmaxSearch([1, 2], { k: 0, threshold: 0, temperature: 1 })).toEqual([]);
  });

  it('shows why softmax thresholds do not scale: the same item scores lower in a bigger corpus', () => {
    const small = [0.9, ...Array(99).fill(0.2)];
    const big = [0.9, ...Array(99_999).fill(0.2)];
    const p = { k: 1, threshold: 0.01, temperature: 0.25 };
    expect(softmaxSearch(small, p)).toHaveLength(1);
    expect(softmaxSearch(big, p)).toHaveLength(0);
  });
});

describe('cosineSearch', () => {
  it('divides by the query norm and thresholds on cosine', () => {
    // items are unit vectors; the query has norm 2, so cosines are sims / 2
    const hits = cosineSearch([1.2, 0.2, -1, 0.8], 2, { k: 3, threshold: 0.3 });
    expect(hits).toEqual([
      { index: 0, score: 0.6 },
      { index: 3, score: 0.4 },
    ]);
  });
});

describe('topK', () => {
  it('matches a full sort on random data', () => {
    const rand = seeded(11);
    for (let trial = 0; trial < 100; trial++) {
      const n = Math.floor(rand() * 500);
      const scores = Array.from({ length: n }, () => Math.round(rand() * 50) / 50);
      const k = Math.floor(rand() * 30);
      const expected = scores
        .map((score, index) => ({ index, score }))
        .sort((a, b) => b.score - a.score || a.index - b.index)
        .slice(0, k);
      expect(topK(scores, k)).toEqual(expected);
    }
  });

  it('vectorNorm', () => {
    expect(vectorNorm([3, 4])).toBe(5);
  });
});
