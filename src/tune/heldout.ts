import type { RankingFigures } from '../retrieve/query-adapter.js';
import type { Modality } from '../types.js';
import { adaptQuery, type LinearMap } from '../vector/linear-map.js';
import type { VectorMatrix } from '../vector/matrix.js';

/** A held-out query: where its target ranks among every item of its modality decides the figures. */
export interface RankingExample {
  /** The raw query vector (the text tower's projection). */
  query: Float32Array;
  modality: Modality;
  /** Row of the target item in its modality's matrix. */
  target: number;
  /** Rows of the other items this query is paired with: left out of its ranking (they are not misses). */
  exclude?: number[];
}

export type { RankingFigures };

export interface HeldOutFigures extends RankingFigures {
  k: number;
  byModality: Partial<Record<Modality, RankingFigures>>;
}

/** The stored item vectors of each modality, resident for repeated scans. */
export type ItemMatrices = Partial<Record<Modality, VectorMatrix>>;

/**
 * 1-based rank of the target among the items of its modality, by the (adapted) query: one plus the items that
 * score strictly higher, other positives of the same query left out.
 */
export function targetRank(scores: Float32Array, rows: number, target: number, exclude?: number[]): number {
  const own = scores[target]!;
  let above = 0;
  for (let i = 0; i < rows; i++) if (scores[i]! > own) above++;
  for (const row of exclude ?? []) if (row !== target && scores[row]! > own) above--;
  return above + 1;
}

/** Recall@k and MRR of held-out queries, with the adapter (or without: `map` undefined). */
export function heldOutFigures(
  examples: RankingExample[],
  items: ItemMatrices,
  map: LinearMap | undefined,
  k: number,
): HeldOutFigures {
  const sums: Partial<Record<Modality, { pairs: number; hits: number; rr: number }>> = {};
  const buffers = new Map<Modality, Float32Array>();
  for (const example of examples) {
    const matrix = items[example.modality];
    if (!matrix) continue;
    let scores = buffers.get(example.modality);
    if (!scores) {
      scores = new Float32Array(matrix.rows);
      buffers.set(example.modality, scores);
    }
    matrix.dotAll(map ? adaptQuery(map, example.query) : example.query, scores);
    const rank = targetRank(scores, matrix.rows, example.target, example.exclude);
    sums[example.modality] ??= { pairs: 0, hits: 0, rr: 0 };
    const sum = sums[example.modality]!;
    sum.pairs++;
    if (rank <= k) sum.hits++;
    sum.rr += 1 / rank;
  }
  const figures = (s: { pairs: number; hits: number; rr: number }): RankingFigures => ({
    pairs: s.pairs,
    recall: s.pairs === 0 ? 0 : s.hits / s.pairs,
    mrr: s.pairs === 0 ? 0 : s.rr / s.pairs,
  });
  const total = { pairs: 0, hits: 0, rr: 0 };
  const byModality: HeldOutFigures['byModality'] = {};
  for (const [modality, s] of Object.entries(sums) as Array<[Modality, typeof total]>) {
    byModality[modality] = figures(s);
    total.pairs += s.pairs;
    total.hits += s.hits;
    total.rr += s.rr;
  }
  return { k, ...figures(total), byModality };
}

/** Compare two sets of figures: positive when `a` is better (MRR first, then recall). */
export function compareFigures(a: RankingFigures, b: RankingFigures): number {
  const EPSILON = 1e-9;
  if (Math.abs(a.mrr - b.mrr) > EPSILON) return a.mrr - b.mrr;
  if (Math.abs(a.recall - b.recall) > EPSILON) return a.recall - b.recall;
  return 0;
}
