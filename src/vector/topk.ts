export interface ScoredIndex {
  index: number;
  score: number;
}

export interface SoftmaxHit extends ScoredIndex {
  /** The raw input score of this row (the similarity before temperature and softmax). */
  logit: number;
}

/**
 * A bounded min-heap of (key, index) keeping the best `capacity` entries, where better means a higher key, or an
 * equal key and a lower index. The root is the worst entry kept. `extra` carries a per-entry value along.
 */
class BestHeap {
  readonly keys: Float64Array;
  readonly indexes: Int32Array;
  readonly extra: Float64Array;
  size = 0;

  constructor(readonly capacity: number) {
    this.keys = new Float64Array(capacity);
    this.indexes = new Int32Array(capacity);
    this.extra = new Float64Array(capacity);
  }

  get full(): boolean {
    return this.size === this.capacity;
  }

  /** Offers an entry whose index is larger than every index offered before (a scan in index order). */
  offer(key: number, index: number, extra: number): void {
    if (this.size < this.capacity) {
      this.put(this.size++, key, index, extra);
      this.siftUp(this.size - 1);
    } else if (key > this.keys[0]!) {
      // An equal key loses: its index is larger than the root's.
      this.put(0, key, index, extra);
      this.siftDown(0);
    }
  }

  /** Entries best first. */
  sorted(): Array<{ key: number; index: number; extra: number }> {
    const entries = [];
    for (let i = 0; i < this.size; i++) {
      entries.push({ key: this.keys[i]!, index: this.indexes[i]!, extra: this.extra[i]! });
    }
    return entries.sort((a, b) => b.key - a.key || a.index - b.index);
  }

  private worse(a: number, b: number): boolean {
    const ka = this.keys[a]!;
    const kb = this.keys[b]!;
    return ka < kb || (ka === kb && this.indexes[a]! > this.indexes[b]!);
  }

  private put(slot: number, key: number, index: number, extra: number): void {
    this.keys[slot] = key;
    this.indexes[slot] = index;
    this.extra[slot] = extra;
  }

  private swap(a: number, b: number): void {
    const key = this.keys[a]!;
    const index = this.indexes[a]!;
    const extra = this.extra[a]!;
    this.put(a, this.keys[b]!, this.indexes[b]!, this.extra[b]!);
    this.put(b, key, index, extra);
  }

  private siftUp(slot: number): void {
    let child = slot;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (!this.worse(child, parent)) return;
      this.swap(child, parent);
      child = parent;
    }
  }

  private siftDown(slot: number): void {
    let parent = slot;
    for (;;) {
      const left = 2 * parent + 1;
      if (left >= this.size) return;
      const right = left + 1;
      const worst = right < this.size && this.worse(right, left) ? right : left;
      if (!this.worse(worst, parent)) return;
      this.swap(worst, parent);
      parent = worst;
    }
  }
}

/**
 * The `k` highest scores at or above `minScore`, sorted by score descending (ties: lower index first).
 * NaN scores are skipped. O(n log k) with a bounded heap; most rows cost one comparison.
 */
export function topK(scores: Float32Array, k: number, minScore = Number.NEGATIVE_INFINITY): ScoredIndex[] {
  const limit = Math.min(Math.floor(k), scores.length);
  if (!(limit > 0)) return [];
  const heap = new BestHeap(limit);
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i]!;
    if (!(score >= minScore)) continue;
    if (heap.full && !(score > heap.keys[0]!)) continue;
    heap.offer(score, i, 0);
  }
  return heap.sorted().map((e) => ({ index: e.index, score: e.key }));
}

/**
 * The reference `similarity_search` scoring, exactly: probabilities = softmax(scores / temperature) over ALL
 * rows (stable: the maximum is subtracted), sorted descending (ties: lower index first), those with
 * probability >= threshold, the first k. Computed in three passes (max, sum of exponentials, bounded heap)
 * instead of a full sort; returns the same items in the same order as the naive method, with `score` the
 * probability and `logit` the input score. Non-finite scores make every probability NaN, so nothing passes.
 */
export function softmaxTopK(
  scores: Float32Array,
  temperature: number,
  k: number,
  threshold: number,
): SoftmaxHit[] {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new RangeError(
      `softmaxTopK: temperature must be a positive number, got ${temperature} (the reference uses 0.25 for text and 0.5 for images)`,
    );
  }
  const n = scores.length;
  const limit = Math.min(Math.floor(k), n);
  if (!(limit > 0)) return [];
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const x = scores[i]! / temperature;
    if (Number.isNaN(x)) return [];
    if (x > max) max = x;
  }
  if (!Number.isFinite(max)) return [];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(scores[i]! / temperature - max);
  // The probability is monotone (non-decreasing) in the score, so a row scoring below the heap's worst entry
  // cannot beat it: it is rejected without computing its exponential. `extra` holds each entry's score.
  const heap = new BestHeap(limit);
  for (let i = 0; i < n; i++) {
    const score = scores[i]!;
    if (heap.full && score < heap.extra[0]!) continue;
    const probability = Math.exp(score / temperature - max) / sum;
    if (!(probability >= threshold)) continue;
    heap.offer(probability, i, score);
  }
  return heap.sorted().map((e) => ({ index: e.index, score: e.key, logit: e.extra }));
}
