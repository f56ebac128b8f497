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

/** Keeps the k best (score, then lower index) in a bounded min-heap: O(n log k). */
class TopK {
  private readonly heap: Scored[] = [];
  constructor(private readonly k: number) {}

  private worse(a: Scored, b: Scored): boolean {
    return a.score < b.score || (a.score === b.score && a.index > b.index);
  }

  push(index: number, score: number): void {
    const heap = this.heap;
    if (this.k <= 0) return;
    if (heap.length < this.k) {
      heap.push({ index, score });
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.worse(heap[i]!, heap[parent]!)) break;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
      return;
    }
    const candidate = { index, score };
    if (!this.worse(heap[0]!, candidate)) return;
    heap[0] = candidate;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && this.worse(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && this.worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }

  sorted(): Scored[] {
    return [...this.heap].sort((a, b) => b.score - a.score || a.index - b.index);
  }
}

/** The k highest scores at or above `minScore`, best first (ties: lower index first). */
export function topK(scores: ArrayLike<number>, k: number, minScore = Number.NEGATIVE_INFINITY): Scored[] {
  const top = new TopK(k);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (s >= minScore) top.push(i, s);
  }
  return top.sorted();
}

/**
 * Exactly the reference results (same items, same order, same probabilities) without sorting every item:
 * one pass for the maximum, one for the softmax denominator, a bounded heap for the top k.
 */
export function softmaxSearch(similarities: ArrayLike<number>, params: SoftmaxParams): Scored[] {
  const n = similarities.length;
  if (n === 0 || params.k <= 0) return [];
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, similarities[i]! / params.temperature);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(similarities[i]! / params.temperature - max);
  // score >= threshold  <=>  logit >= max + ln(threshold * sum): filter on the logit, convert the survivors.
  const minLogit = params.threshold > 0 ? max + Math.log(params.threshold * sum) : Number.NEGATIVE_INFINITY;
  const logits = new Float64Array(n);
  for (let i = 0; i < n; i++) logits[i] = similarities[i]! / params.temperature;
  return topK(logits, params.k, minLogit - 1e-12)
    .map(({ index, score }) => ({ index, score: Math.exp(score - max) / sum }))
    .filter((s) => s.score >= params.threshold);
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
  const cosines = new Float64Array(n);
  const inv = queryNorm > 0 ? 1 / queryNorm : 0;
  for (let i = 0; i < n; i++) cosines[i] = similarities[i]! * inv;
  return topK(cosines, params.k, params.threshold);
}

export function vectorNorm(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  return Math.sqrt(sum);
}
