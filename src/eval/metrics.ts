/**
 * Ranking metrics over judged rankings. A ranking is the list of grades of the hits, best first (0 = not
 * relevant); build it with `judgeRanking` so each relevant entry is counted once.
 */

/** Share of the relevant entries found in the first k hits (0 when there is nothing relevant). */
export function recallAtK(rankedGrades: number[], totalRelevant: number, k: number): number {
  if (totalRelevant <= 0) return 0;
  let found = 0;
  for (let i = 0; i < Math.min(k, rankedGrades.length); i++) if (rankedGrades[i]! > 0) found++;
  return Math.min(1, found / totalRelevant);
}

/** 1 / rank of the first relevant hit (1-based), 0 when none is relevant. */
export function reciprocalRank(rankedGrades: number[]): number {
  const first = rankedGrades.findIndex((g) => g > 0);
  return first < 0 ? 0 : 1 / (first + 1);
}

/** Discounted cumulative gain of the first k grades: sum of (2^g - 1) / log2(i + 2), i 0-based. */
export function dcgAtK(grades: number[], k: number): number {
  let dcg = 0;
  for (let i = 0; i < Math.min(k, grades.length); i++) dcg += (2 ** grades[i]! - 1) / Math.log2(i + 2);
  return dcg;
}

/**
 * Normalised DCG: the ranking's DCG@k over the DCG@k of the ideal ranking (the relevant grades sorted
 * descending). 0 when there is nothing relevant.
 */
export function ndcgAtK(rankedGrades: number[], idealGrades: number[], k = 10): number {
  const ideal = dcgAtK(
    [...idealGrades].sort((a, b) => b - a),
    k,
  );
  return ideal > 0 ? dcgAtK(rankedGrades, k) / ideal : 0;
}

export function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}
