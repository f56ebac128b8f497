import { vectorNorm } from './dot.js';
import { topK as heapTopK, softmaxTopK } from './topk.js';

export { vectorNorm };

/** One scored row of a vector set. */
export interface Scored {
  /** Row index in the vector set. */
  index: number;
  /** The score thresholds apply to: a softmax probability, or a cosine similarity. */
  score: number;
}

export interface SoftmaxParams {
  k: number;
  threshold: number;
  temperature: number;
}

export interface CosineParams {
  k: number;
  threshold: number;
}

/**
 * The reference `similarity_search`, step by step as the reference pipeline wrote it:
 * scores = softmax(similarities / temperature) over every item, sort descending, keep score >= threshold,
 * first k. Kept as the executable specification (tests and benchmarks compare against it).
 */
export function referenceSimilaritySearch(similarities: ArrayLike<number>, params: SoftmaxParams): Scored[] {
  const n = similarities.length;
  const logits = Array.from({ length: n }, (_, i) => similarities[i]! / params.temperature);
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const scores = exps.map((e, index) => ({ index, score: e / sum }));
  scores.sort((a, b) => b.score - a.score || a.index - b.index);
  const kept: Scored[] = [];
  for (const s of scores) if (s.score >= params.threshold) kept.push(s);
  return kept.slice(0, params.k);
}

/** The maximum logit and the sum of exponentials of `softmax(similarities / temperature)`, for probabilities. */
export function softmaxNormaliser(
  similarities: ArrayLike<number>,
  temperature: number,
): { max: number; sum: number } {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < similarities.length; i++) max = Math.max(max, similarities[i]! / temperature);
  let sum = 0;
  for (let i = 0; i < similarities.length; i++) sum += Math.exp(similarities[i]! / temperature - max);
  return { max, sum };
}

/** The k highest scores at or above `minScore`, best first (ties: lower index first). */
export function topK(scores: ArrayLike<number>, k: number, minScore = Number.NEGATIVE_INFINITY): Scored[] {
  const f32 = scores instanceof Float32Array ? scores : Float32Array.from(scores);
  return heapTopK(f32, k, Math.fround(minScore)).map(({ index }) => ({ index, score: scores[index]! }));
}

/**
 * Exactly the reference results (same items, same order, same probabilities) without sorting every item:
 * one pass for the maximum, one for the softmax denominator, a bounded heap for the top k.
 */
export function softmaxSearch(similarities: ArrayLike<number>, params: SoftmaxParams): Scored[] {
  const sims = similarities instanceof Float32Array ? similarities : Float32Array.from(similarities);
  return softmaxTopK(sims, params.temperature, params.k, params.threshold).map(({ index, score }) => ({
    index,
    score,
  }));
}

/**
 * Cosine scoring: items are unit vectors, so cosine = dot / |query|. A threshold on cosine means the same at
 * 100 items and at 1 000 000, unlike a softmax probability, which shrinks as the corpus grows.
 */
export function cosineSearch(
  similarities: ArrayLike<number>,
  queryNorm: number,
  params: CosineParams,
): Scored[] {
  const n = similarities.length;
  const cosines = new Float32Array(n);
  const inv = queryNorm > 0 ? 1 / queryNorm : 0;
  for (let i = 0; i < n; i++) cosines[i] = similarities[i]! * inv;
  // Float32 cosines, reported in double precision from the same inputs.
  return heapTopK(cosines, params.k, Math.fround(params.threshold)).map(({ index }) => ({
    index,
    score: similarities[index]! * inv,
  }));
}
