import { dot } from '../vector/dot.js';

/** A candidate for diversification: its relevance to the query and its unit-length vector. */
export interface MmrCandidate {
  relevance: number;
  vector: Float32Array;
}

/**
 * Maximal marginal relevance (Carbonell & Goldstein 1998): pick the most relevant candidate first, then each
 * time the one maximising lambda * relevance - (1 - lambda) * (highest cosine to anything already picked).
 * Vectors must be unit length (the cosine is their dot product). Returns up to k candidate indexes in pick
 * order; ties go to the lower index. lambda = 1 is plain relevance order; lower values favour variety.
 */
export function maximalMarginalRelevance(candidates: MmrCandidate[], k: number, lambda = 0.7): number[] {
  if (!(lambda >= 0 && lambda <= 1)) throw new RangeError(`MMR lambda must be in [0, 1], got ${lambda}`);
  const n = candidates.length;
  const picked: number[] = [];
  const remaining = new Set<number>(Array.from({ length: n }, (_, i) => i));
  // maxSim[i]: highest cosine of candidate i to any picked candidate (updated incrementally: O(n k d)).
  const maxSim = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
  while (picked.length < Math.min(k, n)) {
    let best = -1;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (const i of remaining) {
      const value =
        picked.length === 0
          ? candidates[i]!.relevance
          : lambda * candidates[i]!.relevance - (1 - lambda) * maxSim[i]!;
      if (best === -1 || value > bestValue) {
        best = i;
        bestValue = value;
      }
    }
    picked.push(best);
    remaining.delete(best);
    const chosen = candidates[best]!.vector;
    for (const i of remaining) maxSim[i] = Math.max(maxSim[i]!, dot(candidates[i]!.vector, chosen));
  }
  return picked;
}
