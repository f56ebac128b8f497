/** One ranked list of ids to fuse, best first, with its weight (default 1). */
export interface RankedList {
  ids: string[];
  weight?: number;
}

/** The constant of reciprocal rank fusion (Cormack et al. 2009): damps the lead of the very first ranks. */
export const DEFAULT_RRF_K = 60;

/**
 * Weighted reciprocal rank fusion: score(id) = sum over lists of weight / (k + rank), rank 1-based.
 * Sorted by score descending; ties keep the order of first appearance (lists in the order given, each from its
 * top). An id repeated inside one list counts once, at its best rank.
 */
export function reciprocalRankFusion(
  lists: RankedList[],
  k = DEFAULT_RRF_K,
): Array<{ id: string; score: number }> {
  if (!(k >= 0) || !Number.isFinite(k)) throw new RangeError(`RRF k must be a finite number >= 0, got ${k}`);
  const scores = new Map<string, number>();
  for (const list of lists) {
    const weight = list.weight ?? 1;
    const seen = new Set<string>();
    list.ids.forEach((id, index) => {
      if (seen.has(id)) return;
      seen.add(id);
      scores.set(id, (scores.get(id) ?? 0) + weight / (k + index + 1));
    });
  }
  // Map iteration follows insertion order, i.e. first appearance; Array.prototype.sort is stable.
  return [...scores].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
}
