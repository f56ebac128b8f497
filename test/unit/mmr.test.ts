import { describe, expect, it } from 'vitest';
import { maximalMarginalRelevance } from '../../src/retrieve/mmr.js';

function unit(values: number[]): Float32Array {
  const norm = Math.hypot(...values);
  return Float32Array.from(values, (v) => v / norm);
}

// Five near-identical video frames (cosine > 0.99 to each other), then two distinct items.
const frames = [0, 1, 2, 3, 4].map((i) => ({ relevance: 0.9 - 0.01 * i, vector: unit([1, 0.01 * i, 0, 0]) }));
const distinctA = { relevance: 0.6, vector: unit([0.1, 0, 1, 0]) };
const distinctB = { relevance: 0.55, vector: unit([0.1, 0, 0, 1]) };
const candidates = [...frames, distinctA, distinctB];

describe('maximalMarginalRelevance', () => {
  it('picks one of five near-identical frames and then the two distinct items (k = 3)', () => {
    // 1st: frame 0 (most relevant). 2nd: frame 1 = 0.7*0.89 - 0.3*~1.0 = ~0.32; A = 0.7*0.6 - 0.3*0.0995 = ~0.39.
    // 3rd: frame 1 still ~0.32; B = 0.7*0.55 - 0.3*max(0.0995, 0.0099) = ~0.355.
    const picked = maximalMarginalRelevance(candidates, 3);
    expect(picked.filter((i) => i < 5)).toHaveLength(1);
    expect(picked).toEqual([0, 5, 6]);
  });

  it('the third pick follows the formula: B beats frame 1 only when its penalty is small enough', () => {
    const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    const frame1 =
      0.7 * 0.89 -
      0.3 * Math.max(cos(frames[1]!.vector, frames[0]!.vector), cos(frames[1]!.vector, distinctA.vector));
    const b =
      0.7 * 0.55 -
      0.3 * Math.max(cos(distinctB.vector, frames[0]!.vector), cos(distinctB.vector, distinctA.vector));
    expect(b).toBeGreaterThan(frame1);
    // With a less relevant B, frame 1 wins the third place.
    const weakB = { ...distinctB, relevance: 0.4 };
    expect(maximalMarginalRelevance([...frames, distinctA, weakB], 3)).toEqual([0, 5, 1]);
  });

  it('lambda = 1 gives plain relevance order', () => {
    expect(maximalMarginalRelevance(candidates, 7, 1)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const shuffled = [candidates[6]!, candidates[2]!, candidates[5]!, candidates[0]!];
    expect(maximalMarginalRelevance(shuffled, 4, 1)).toEqual([3, 1, 2, 0]);
  });

  it('lambda = 0 picks for variety only after the first', () => {
    // After frame 0, every frame has cosine ~1 and A, B ~0.0995: A (lower index) wins, then B.
    expect(maximalMarginalRelevance(candidates, 3, 0)).toEqual([0, 5, 6]);
  });

  it('ties go to the lower index; k above the count returns every candidate once; empty input or k 0: none', () => {
    const same = [0, 1, 2].map(() => ({ relevance: 0.5, vector: unit([1, 0]) }));
    expect(maximalMarginalRelevance(same, 2)).toEqual([0, 1]);
    const picked = maximalMarginalRelevance(candidates, 20);
    expect([...picked].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(picked.slice(0, 3)).toEqual([0, 5, 6]);
    expect(maximalMarginalRelevance([], 3)).toEqual([]);
    expect(maximalMarginalRelevance(candidates, 0)).toEqual([]);
  });

  it('rejects lambda outside [0, 1]', () => {
    expect(() => maximalMarginalRelevance(candidates, 2, 1.5)).toThrow(RangeError);
    expect(() => maximalMarginalRelevance(candidates, 2, -0.1)).toThrow(RangeError);
  });
});
