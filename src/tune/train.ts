import { MmragError } from '../errors.js';
import type { TrainSettings } from '../retrieve/query-adapter.js';
import type { Modality } from '../types.js';
import { l2normalize } from '../vector/dot.js';
import { identityMap, identityMatrix, type LinearMap } from '../vector/linear-map.js';
import { VectorMatrix } from '../vector/matrix.js';
import {
  compareFigures,
  type HeldOutFigures,
  heldOutFigures,
  type ItemMatrices,
  type RankingExample,
} from './heldout.js';
import { fillGaussian, seededRandom, shuffle } from './random.js';

/** One training pair as vectors: a query and the row of its target item. */
export interface TrainingExample {
  /** The raw query vector (the text tower's projection). */
  query: Float32Array;
  modality: Modality;
  /** Row of the target item in its modality's matrix. */
  target: number;
  /**
   * The query's text (or any key naming it): two pairs with the same key in one batch are not each other's
   * negatives (one caption can name several pictures).
   */
  key: string;
}

export type { TrainSettings };

export const DEFAULT_TRAIN_SETTINGS: TrainSettings = {
  epochs: 30,
  batchSize: 64,
  learningRate: 3e-3,
  temperature: 0.05,
  weightDecay: 0.05,
  sameQuery: 0.95,
  patience: 5,
  k: 5,
  seed: 1,
};

export interface EpochRecord {
  epoch: number;
  /** Mean InfoNCE loss over the epoch's batches. */
  loss: number;
  validation: HeldOutFigures;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  /** Set at the end of an epoch. */
  validation?: HeldOutFigures;
}

export interface TrainInput {
  dim: number;
  /** The stored item vectors (L2-normalised), per modality: targets and validation rankings index into them. */
  items: ItemMatrices;
  train: TrainingExample[];
  /** Held-out pairs for early stopping. */
  validation: RankingExample[];
  settings?: Partial<TrainSettings>;
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
}

export interface TrainResult {
  /** The best map by validation figures (the identity when nothing beat it). */
  map: LinearMap;
  /** Validation figures of the identity, before any step. */
  before: HeldOutFigures;
  /** Validation figures of the returned map. */
  best: HeldOutFigures;
  bestEpoch: number;
  history: EpochRecord[];
  stoppedEarly: boolean;
  settings: TrainSettings;
  seconds: number;
}

/** Trainable parameters: the forward map, its gradient, the identity-decay step, and a snapshot. */
interface Parameters {
  /** `u = W q` for every row of `q` (batch rows x dim). */
  forward(queries: Float32Array, rows: number, out: Float32Array): void;
  /** Gradient of the loss w.r.t. the parameters, from `g = dL/du` (rows x dim) and the queries. */
  backward(grads: Float32Array, queries: Float32Array, rows: number): void;
  /** Flat parameter arrays and their gradients, for Adam. */
  tensors(): Array<{ value: Float32Array; grad: Float32Array }>;
  /** Pull towards the identity: `param -= step * dPenalty/dparam`, penalty `||W - I||^2 / 2`. */
  decay(step: number): void;
  snapshot(): LinearMap;
}

function fullParameters(dim: number, batchSize: number): Parameters {
  // W lives in a VectorMatrix so the forward products run on the SIMD kernel without copying W each time.
  const w = new VectorMatrix(dim, { initialCapacity: dim });
  w.append(identityMatrix(dim));
  const grad = new Float32Array(dim * dim);
  // Q^T (dim rows of batch-size values) for dW = G^T Q: row r of dW is Q^T . (column r of G).
  const qt = new VectorMatrix(batchSize, { initialCapacity: dim });
  qt.append(new Float32Array(dim * batchSize));
  const gColumn = new Float32Array(batchSize);
  const row = new Float32Array(dim);
  return {
    forward(queries, rows, out) {
      for (let i = 0; i < rows; i++) {
        w.dotAll(queries.subarray(i * dim, (i + 1) * dim), row);
        out.set(row, i * dim);
      }
    },
    backward(grads, queries, rows) {
      const t = qt.view();
      t.fill(0);
      for (let i = 0; i < rows; i++) {
        for (let c = 0; c < dim; c++) t[c * batchSize + i] = queries[i * dim + c]!;
      }
      gColumn.fill(0);
      for (let r = 0; r < dim; r++) {
        for (let i = 0; i < rows; i++) gColumn[i] = grads[i * dim + r]!;
        qt.dotAll(gColumn, row);
        grad.set(row, r * dim);
      }
    },
    tensors: () => [{ value: w.view(), grad }],
    decay(step) {
      const m = w.view();
      for (let i = 0; i < dim; i++) {
        for (let j = 0; j < dim; j++) {
          const at = i * dim + j;
          m[at]! -= step * (m[at]! - (i === j ? 1 : 0));
        }
      }
    },
    snapshot: () => ({ kind: 'full', dim, matrix: Float32Array.from(w.view()) }),
  };
}

function lowRankParameters(dim: number, rank: number, batchSize: number, random: () => number): Parameters {
  const u = new Float32Array(dim * rank);
  // U = 0 makes W = I at the start; a random V lets U's gradient point somewhere.
  const v = fillGaussian(new Float32Array(dim * rank), random, 1 / Math.sqrt(dim));
  const gu = new Float32Array(dim * rank);
  const gv = new Float32Array(dim * rank);
  const projected = new Float64Array(batchSize * rank); // V^T q per row
  const back = new Float64Array(rank); // U^T g
  return {
    forward(queries, rows, out) {
      projected.fill(0);
      for (let b = 0; b < rows; b++) {
        const q = b * dim;
        const p = b * rank;
        for (let i = 0; i < dim; i++) {
          const qi = queries[q + i]!;
          for (let k = 0; k < rank; k++) projected[p + k]! += v[i * rank + k]! * qi;
        }
        for (let i = 0; i < dim; i++) {
          let sum = queries[q + i]!;
          for (let k = 0; k < rank; k++) sum += u[i * rank + k]! * projected[p + k]!;
          out[q + i] = sum;
        }
      }
    },
    backward(grads, queries, rows) {
      gu.fill(0);
      gv.fill(0);
      for (let b = 0; b < rows; b++) {
        const q = b * dim;
        const p = b * rank;
        back.fill(0);
        for (let i = 0; i < dim; i++) {
          const gi = grads[q + i]!;
          for (let k = 0; k < rank; k++) {
            gu[i * rank + k]! += gi * projected[p + k]!;
            back[k]! += u[i * rank + k]! * gi;
          }
        }
        for (let i = 0; i < dim; i++) {
          const qi = queries[q + i]!;
          for (let k = 0; k < rank; k++) gv[i * rank + k]! += qi * back[k]!;
        }
      }
    },
    tensors: () => [
      { value: u, grad: gu },
      { value: v, grad: gv },
    ],
    decay(step) {
      // d/dU ||U V^T||^2 / 2 = U (V^T V); d/dV = V (U^T U).
      const vtv = gram(v, dim, rank);
      const utu = gram(u, dim, rank);
      const du = multiplySmall(u, vtv, dim, rank);
      const dv = multiplySmall(v, utu, dim, rank);
      for (let i = 0; i < u.length; i++) {
        u[i]! -= step * du[i]!;
        v[i]! -= step * dv[i]!;
      }
    },
    snapshot: () => ({ kind: 'low-rank', dim, rank, u: Float32Array.from(u), v: Float32Array.from(v) }),
  };
}

/** `A^T A` for a dim x rank matrix. */
function gram(a: Float32Array, dim: number, rank: number): Float64Array {
  const out = new Float64Array(rank * rank);
  for (let i = 0; i < dim; i++) {
    for (let k = 0; k < rank; k++) {
      const aik = a[i * rank + k]!;
      for (let l = 0; l < rank; l++) out[k * rank + l]! += aik * a[i * rank + l]!;
    }
  }
  return out;
}

/** `A S` for A dim x rank and S rank x rank. */
function multiplySmall(a: Float32Array, s: Float64Array, dim: number, rank: number): Float64Array {
  const out = new Float64Array(dim * rank);
  for (let i = 0; i < dim; i++) {
    for (let l = 0; l < rank; l++) {
      let sum = 0;
      for (let k = 0; k < rank; k++) sum += a[i * rank + k]! * s[k * rank + l]!;
      out[i * rank + l] = sum;
    }
  }
  return out;
}

/**
 * The in-batch InfoNCE arithmetic on the SIMD kernel: the batch's targets as rows (logits: one adapted query
 * against every target) and as columns (dL/dz: a weighted sum of the targets), and its queries as rows (which
 * queries are the same). Rows past the batch's size stay zero.
 */
class BatchMath {
  private readonly targetRows: VectorMatrix;
  private readonly targetColumns: VectorMatrix;
  private readonly queryRows: VectorMatrix;
  private readonly logits: Float32Array;
  private readonly similarities: Float32Array;
  private readonly coefficients: Float32Array;
  private readonly dz: Float32Array;

  constructor(
    private readonly dim: number,
    private readonly size: number,
  ) {
    this.targetRows = new VectorMatrix(dim, { initialCapacity: size });
    this.targetRows.append(new Float32Array(size * dim));
    this.queryRows = new VectorMatrix(dim, { initialCapacity: size });
    this.queryRows.append(new Float32Array(size * dim));
    this.targetColumns = new VectorMatrix(size, { initialCapacity: dim });
    this.targetColumns.append(new Float32Array(dim * size));
    this.logits = new Float32Array(size);
    this.similarities = new Float32Array(size);
    this.coefficients = new Float32Array(size);
    this.dz = new Float32Array(dim);
  }

  /** The batch: targets (rows of `stored`) and normalised queries (first `rows` rows of `queries`). */
  load(stored: Float32Array, targets: number[], queries: Float32Array, rows: number): void {
    const { dim, size } = this;
    const byRow = this.targetRows.view();
    const byColumn = this.targetColumns.view();
    byRow.fill(0);
    byColumn.fill(0);
    targets.forEach((target, j) => {
      const vector = stored.subarray(target * dim, (target + 1) * dim);
      byRow.set(vector, j * dim);
      for (let c = 0; c < dim; c++) byColumn[c * size + j] = vector[c]!;
    });
    const queryView = this.queryRows.view();
    queryView.fill(0);
    queryView.set(queries.subarray(0, rows * dim));
  }

  /** Cosine of query `i` with every query of the batch. */
  querySimilarities(i: number): Float32Array {
    const view = this.queryRows.view();
    return this.queryRows.dotAll(view.subarray(i * this.dim, (i + 1) * this.dim), this.similarities);
  }

  /**
   * Loss of query `i` (adapted and normalised: `direction`) and dL/dz_i = sum_j (p_ij - [i = j]) t_j / (tau rows),
   * with the masked targets left out of the softmax.
   */
  gradient(
    i: number,
    direction: Float32Array,
    rows: number,
    temperature: number,
    masked: (j: number) => boolean,
  ): { loss: number; dz: Float32Array } {
    const logits = this.targetRows.dotAll(direction, this.logits);
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < rows; j++) {
      logits[j] = masked(j) ? Number.NEGATIVE_INFINITY : logits[j]! / temperature;
      if (logits[j]! > max) max = logits[j]!;
    }
    let total = 0;
    for (let j = 0; j < rows; j++) total += Math.exp(logits[j]! - max);
    const coefficients = this.coefficients;
    coefficients.fill(0);
    for (let j = 0; j < rows; j++) {
      const p = Math.exp(logits[j]! - max) / total;
      coefficients[j] = (p - (i === j ? 1 : 0)) / (temperature * rows);
    }
    return {
      loss: Math.log(total) - (logits[i]! - max),
      dz: this.targetColumns.dotAll(coefficients, this.dz),
    };
  }
}

class Adam {
  private readonly moments: Array<{ m: Float32Array; v: Float32Array }>;
  private step = 0;
  constructor(
    private readonly tensors: Array<{ value: Float32Array; grad: Float32Array }>,
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    this.moments = tensors.map((t) => ({
      m: new Float32Array(t.value.length),
      v: new Float32Array(t.value.length),
    }));
  }

  update(): void {
    this.step++;
    const { beta1, beta2, epsilon } = this;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    const rate = this.learningRate / c1;
    const inverseC2 = 1 / c2;
    this.tensors.forEach((t, n) => {
      const { m, v } = this.moments[n]!;
      const { value, grad } = t;
      for (let i = 0; i < value.length; i++) {
        const g = grad[i]!;
        const mi = beta1 * m[i]! + (1 - beta1) * g;
        const vi = beta2 * v[i]! + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        value[i]! -= (rate * mi) / (Math.sqrt(vi * inverseC2) + epsilon);
      }
    });
  }
}

/** Batches of one modality each (in-batch negatives must be items a search would rank against each other). */
function makeBatches(
  examples: TrainingExample[],
  batchSize: number,
  random: () => number,
): TrainingExample[][] {
  const byModality = new Map<Modality, TrainingExample[]>();
  for (const e of examples) {
    const list = byModality.get(e.modality) ?? [];
    list.push(e);
    byModality.set(e.modality, list);
  }
  const batches: TrainingExample[][] = [];
  for (const list of byModality.values()) {
    shuffle(list, random);
    for (let i = 0; i < list.length; i += batchSize) {
      const batch = list.slice(i, i + batchSize);
      // A batch of one has no negatives: it would teach nothing.
      if (batch.length > 1) batches.push(batch);
    }
  }
  return shuffle(batches, random);
}

/**
 * Train the query adapter: InfoNCE over in-batch negatives (each query against the targets of its batch, by
 * cosine similarity of the adapted query with the stored, unchanged item vectors), Adam, decoupled weight decay
 * towards the identity, early stopping on the validation pairs' MRR (then recall@k). Returns the best map seen,
 * the identity included: a run that never beats leaving queries alone returns the identity.
 */
export function trainAdapter(input: TrainInput): TrainResult {
  const started = performance.now();
  const settings: TrainSettings = { ...DEFAULT_TRAIN_SETTINGS, ...definedOnly(input.settings) };
  const { dim, items } = input;
  validate(settings, input);
  const random = seededRandom(settings.seed);
  const batchSize = settings.batchSize;
  const params =
    settings.rank === undefined
      ? fullParameters(dim, batchSize)
      : lowRankParameters(dim, settings.rank, batchSize, random);
  const adam = new Adam(params.tensors(), settings.learningRate);

  const queries = new Float32Array(batchSize * dim);
  const mapped = new Float32Array(batchSize * dim);
  const grads = new Float32Array(batchSize * dim);
  const directions = new Float32Array(batchSize * dim);
  const norms = new Float64Array(batchSize);
  const batchMath = new BatchMath(dim, batchSize);
  const prepared = input.train.map((e) => ({ ...e, query: l2normalize(e.query) }));

  const evaluate = (map: LinearMap | undefined) => heldOutFigures(input.validation, items, map, settings.k);
  const before = evaluate(undefined);
  let best = before;
  let bestMap: LinearMap = identityMap(dim);
  let bestEpoch = 0;
  const history: EpochRecord[] = [];
  let stoppedEarly = false;

  for (let epoch = 1; epoch <= settings.epochs; epoch++) {
    const batches = makeBatches(prepared, batchSize, random);
    let lossSum = 0;
    batches.forEach((batch, b) => {
      if (input.signal?.aborted) throw new MmragError('Training was stopped.', undefined, 'aborted');
      const rows = batch.length;
      const stored = items[batch[0]!.modality]!.view();
      batch.forEach((e, i) => {
        queries.set(e.query, i * dim);
      });
      batchMath.load(
        stored,
        batch.map((e) => e.target),
        queries,
        rows,
      );
      params.forward(queries, rows, mapped);
      for (let i = 0; i < rows; i++) {
        let sum = 0;
        for (let j = 0; j < dim; j++) sum += mapped[i * dim + j]! * mapped[i * dim + j]!;
        const norm = Math.sqrt(sum) || 1;
        norms[i] = norm;
        for (let j = 0; j < dim; j++) directions[i * dim + j] = mapped[i * dim + j]! / norm;
      }
      let loss = 0;
      for (let i = 0; i < rows; i++) {
        const direction = directions.subarray(i * dim, (i + 1) * dim);
        // Pairs sharing a target or a query (the same key, or embeddings the model cannot tell apart) are not
        // each other's negatives.
        const same = batchMath.querySimilarities(i);
        const masked = (j: number) =>
          j !== i &&
          (batch[j]!.target === batch[i]!.target ||
            batch[j]!.key === batch[i]!.key ||
            same[j]! >= settings.sameQuery);
        const result = batchMath.gradient(i, direction, rows, settings.temperature, masked);
        loss += result.loss;
        const dz = result.dz;
        let along = 0;
        for (let c = 0; c < dim; c++) along += dz[c]! * direction[c]!;
        const inverse = 1 / norms[i]!;
        for (let c = 0; c < dim; c++) grads[i * dim + c] = (dz[c]! - along * direction[c]!) * inverse;
      }
      params.backward(grads, queries, rows);
      adam.update();
      params.decay(settings.learningRate * settings.weightDecay);
      lossSum += loss / rows;
      input.onProgress?.({
        epoch,
        epochs: settings.epochs,
        batch: b + 1,
        batches: batches.length,
        loss: lossSum / (b + 1),
      });
    });
    const map = params.snapshot();
    const validation = evaluate(map);
    const loss = batches.length > 0 ? lossSum / batches.length : 0;
    history.push({ epoch, loss, validation });
    input.onProgress?.({
      epoch,
      epochs: settings.epochs,
      batch: batches.length,
      batches: batches.length,
      loss,
      validation,
    });
    if (compareFigures(validation, best) > 0) {
      best = validation;
      bestMap = map;
      bestEpoch = epoch;
    } else if (epoch - bestEpoch >= settings.patience) {
      stoppedEarly = epoch < settings.epochs;
      break;
    }
  }
  return {
    map: bestMap,
    before,
    best,
    bestEpoch,
    history,
    stoppedEarly,
    settings,
    seconds: (performance.now() - started) / 1000,
  };
}

function validate(settings: TrainSettings, input: TrainInput): void {
  const whole = (name: string, value: number, min: number) => {
    if (!Number.isInteger(value) || value < min)
      throw new MmragError(`${name} must be a whole number >= ${min}, got ${value}.`, undefined, 'usage');
  };
  whole('epochs', settings.epochs, 1);
  whole('batch size', settings.batchSize, 2);
  whole('patience', settings.patience, 1);
  whole('k', settings.k, 1);
  if (settings.rank !== undefined) {
    whole('rank', settings.rank, 1);
    if (settings.rank >= input.dim)
      throw new MmragError(
        `The rank (${settings.rank}) must be below the embedding width (${input.dim}).`,
        'Leave --rank out for a full matrix.',
        'usage',
      );
  }
  for (const [name, value] of [
    ['learning rate', settings.learningRate],
    ['temperature', settings.temperature],
  ] as const) {
    if (!(value > 0)) throw new MmragError(`The ${name} must be above 0.`, undefined, 'usage');
  }
  if (!(settings.weightDecay >= 0))
    throw new MmragError('The weight decay must be 0 or more.', undefined, 'usage');
  for (const e of input.train) {
    if (e.query.length !== input.dim)
      throw new MmragError(
        `A training query has ${e.query.length} dimensions, the items ${input.dim}.`,
        undefined,
        'tune_mismatch',
      );
    const matrix = input.items[e.modality];
    if (!matrix || e.target < 0 || e.target >= matrix.rows)
      throw new MmragError(`A training pair names no stored ${e.modality} item.`, undefined, 'tune_mismatch');
  }
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
