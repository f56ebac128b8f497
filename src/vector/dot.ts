import { type DotRows, instantiateDotKernel } from './wasm/dot-kernel.js';

/** Below this many matrix values (two 512-d rows) the plain loop is as fast as staging rows for the kernel. */
const KERNEL_MIN_VALUES = 1024;
/** Rows are staged into WebAssembly memory in blocks of about this size (cache-resident while scanned). */
const BLOCK_BYTES = 128 * 1024;
const PAGE_BYTES = 65536;

/**
 * Dot products of one query against every row of a row-major matrix.
 * `out[i] = sum_j matrix[i*dim + j] * query[j]`.
 * Large inputs run on the WebAssembly SIMD kernel: the rows are copied block by block into a small, reused
 * WebAssembly memory (each block stays in cache while the kernel reads it, so the extra cost is one memcpy of
 * the matrix). For repeated queries over the same vectors, keep them in a `VectorMatrix` instead (no copy).
 * Results are float32 dot products; the kernel sums in four float32 lanes, the plain loop in float64, so the two
 * may differ in the last bits.
 */
export function dotAll(
  matrix: Float32Array,
  dim: number,
  query: Float32Array,
  out?: Float32Array,
): Float32Array {
  const rows = Math.floor(matrix.length / dim);
  const result = out ?? new Float32Array(rows);
  const kernel = rows * dim >= KERNEL_MIN_VALUES && query.length >= dim ? stagingKernel(dim) : null;
  if (!kernel) return dotAllPlain(matrix, dim, query, result);
  const blockRows = Math.max(1, Math.floor(BLOCK_BYTES / (dim * 4)));
  const { memory, run } = kernel;
  const rowsAt = 0;
  const queryAt = blockRows * dim * 4;
  const scoresAt = queryAt + dim * 4;
  const buffer = memory.buffer;
  new Float32Array(buffer, queryAt, dim).set(query.subarray(0, dim));
  const block = new Float32Array(buffer, rowsAt, blockRows * dim);
  const scores = new Float32Array(buffer, scoresAt, blockRows);
  for (let first = 0; first < rows; first += blockRows) {
    const count = Math.min(blockRows, rows - first);
    block.set(matrix.subarray(first * dim, (first + count) * dim));
    run(rowsAt, count, queryAt, scoresAt);
    result.set(count === blockRows ? scores : scores.subarray(0, count), first);
  }
  return result;
}

/** The dot product of two vectors of the same width, summed in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** The Euclidean length of a vector. */
export function vectorNorm(vector: ArrayLike<number>): number {
  return Math.sqrt(dot(vector, vector));
}

/** A unit-length copy of a vector (all zeros stays all zeros). */
export function l2normalize(vector: Float32Array): Float32Array {
  const norm = vectorNorm(vector);
  const out = new Float32Array(vector.length);
  if (norm === 0) return out;
  for (let i = 0; i < vector.length; i++) out[i] = vector[i]! / norm;
  return out;
}

/** The element-wise mean of two vectors of the same width. */
export function meanVector(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i]! + b[i]!) / 2;
  return out;
}

/** The same products with a plain JavaScript loop (float64 accumulation): the fallback and the baseline. */
export function dotAllPlain(
  matrix: Float32Array,
  dim: number,
  query: Float32Array,
  out?: Float32Array,
): Float32Array {
  const rows = Math.floor(matrix.length / dim);
  const result = out ?? new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    const base = r * dim;
    for (let j = 0; j < dim; j++) sum += matrix[base + j]! * query[j]!;
    result[r] = sum;
  }
  return result;
}

interface StagingKernel {
  memory: WebAssembly.Memory;
  run: DotRows;
}
let stagingMemory: WebAssembly.Memory | null | undefined;
const stagingKernels = new Map<number, DotRows | null>();

/** One small memory reused by every call (grown when a wider `dim` needs it); null without SIMD. */
function stagingKernel(dim: number): StagingKernel | null {
  if (stagingMemory === undefined) {
    stagingMemory = typeof WebAssembly === 'undefined' ? null : new WebAssembly.Memory({ initial: 1 });
  }
  if (!stagingMemory) return null;
  let run = stagingKernels.get(dim);
  if (run === undefined) {
    run = instantiateDotKernel(stagingMemory, dim);
    stagingKernels.set(dim, run);
  }
  if (!run) return null;
  const blockRows = Math.max(1, Math.floor(BLOCK_BYTES / (dim * 4)));
  const needed = blockRows * dim * 4 + dim * 4 + blockRows * 4;
  const pages = Math.ceil(needed / PAGE_BYTES) - stagingMemory.buffer.byteLength / PAGE_BYTES;
  if (pages > 0) stagingMemory.grow(pages);
  return { memory: stagingMemory, run };
}
