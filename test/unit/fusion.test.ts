import { describe, expect, it } from 'vitest';
import { reciprocalRankFusion } from '../../src/retrieve/fusion.js';

describe('reciprocalRankFusion', () => {
  it('sums weight / (k + rank) over the lists (k = 0: easy fractions)', () => {
    // a: 1/1 + 2/2 = 2; b: 1/2; c: 1/3 + 2/1 = 7/3; d: 2/3
    const fused = reciprocalRankFusion([{ ids: ['a', 'b', 'c'] }, { ids: ['c', 'a', 'd'], weight: 2 }], 0);
    expect(fused.map((f) => f.id)).toEqual(['c', 'a', 'd', 'b']);
    expect(fused[0]!.score).toBeCloseTo(7 / 3, 12);
    expect(fused[1]!.score).toBeCloseTo(2, 12);
    expect(fused[2]!.score).toBeCloseTo(2 / 3, 12);
    expect(fused[3]!.score).toBeCloseTo(1 / 2, 12);
  });

  it('uses k = 60 by default, where a small rank gap still decides', () => {
    // a: 1/61 + 2/62 = 0.0486515..., c: 1/63 + 2/61 = 0.0486602...: c leads by under 1e-5
    const fused = reciprocalRankFusion([{ ids: ['a', 'b', 'c'] }, { ids: ['c', 'a', 'd'], weight: 2 }]);
    expect(fused.map((f) => f.id)).toEqual(['c', 'a', 'd', 'b']);
    expect(fused[0]!.score).toBeCloseTo(1 / 63 + 2 / 61, 12);
    expect(fused[1]!.score).toBeCloseTo(1 / 61 + 2 / 62, 12);
    expect(fused[2]!.score).toBeCloseTo(2 / 63, 12);
    expect(fused[3]!.score).toBeCloseTo(1 / 62, 12);
  });

  it('breaks ties by first appearance (lists in order, each from its top)', () => {
    const fused = reciprocalRankFusion([{ ids: ['x', 'y'] }, { ids: ['y', 'x'] }]);
    expect(fused.map((f) => f.id)).toEqual(['x', 'y']);
    expect(fused[0]!.score).toBe(fused[1]!.score);
    const later = reciprocalRankFusion([{ ids: ['p'] }, { ids: ['q'] }]);
    expect(later.map((f) => f.id)).toEqual(['p', 'q']);
  });

  it('counts an id repeated inside one list once, at its best rank', () => {
    const fused = reciprocalRankFusion([{ ids: ['a', 'b', 'a'] }], 0);
    expect(fused).toEqual([
      { id: 'a', score: 1 },
      { id: 'b', score: 0.5 },
    ]);
  });

  it('a list of weight 0 contributes ids but no score; no lists give nothing', () => {
    const fused = reciprocalRankFusion([{ ids: ['a'] }, { ids: ['b', 'a'], weight: 0 }], 0);
    expect(fused).toEqual([
      { id: 'a', score: 1 },
      { id: 'b', score: 0 },
    ]);
    expect(reciprocalRankFusion([])).toEqual([]);
    expect(reciprocalRankFusion([{ ids: [] }])).toEqual([]);
  });

  it('rejects a negative or non-finite k', () => {
    expect(() => reciprocalRankFusion([{ ids: ['a'] }], -1)).toThrow(RangeError);
    expect(() => reciprocalRankFusion([{ ids: ['a'] }], Number.NaN)).toThrow(RangeError);
  });
});
