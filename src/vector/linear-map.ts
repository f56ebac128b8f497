import { vectorNorm } from './dot.js';
import { VectorMatrix } from './matrix.js';

/**
 * The adapter's linear map on a query vector: a full matrix `W` (row-major, dim x dim), or the low-rank form
 * `W = I + U V^T` with `U` and `V` dim x rank (row-major). Both start as the identity.
 */
export type LinearMap =
  | { kind: 'full'; dim: number; matrix: Float32Array }
  | { kind: 'low-rank'; dim: number; rank: number; u: Float32Array; v: Float32Array };

export function identityMatrix(dim: number): Float32Array {
  const matrix = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) matrix[i * dim + i] = 1;
  return matrix;
}

export function identityMap(dim: number): LinearMap {
  return { kind: 'full', dim, matrix: identityMatrix(dim) };
}

/**
 * Full matrices resident in WebAssembly memory, so that applying one scans it in place instead of copying it per
 * query. A map's arrays are not changed once it has been applied (the trainer snapshots copies).
 */
const residentMatrices = new WeakMap<Float32Array, VectorMatrix>();

function residentMatrix(matrix: Float32Array, dim: number): VectorMatrix {
  let resident = residentMatrices.get(matrix);
  if (!resident) {
    resident = new VectorMatrix(dim, { initialCapacity: dim });
    resident.append(matrix);
    residentMatrices.set(matrix, resident);
  }
  return resident;
}

/** `W x`. */
export function applyMap(map: LinearMap, x: Float32Array, out = new Float32Array(map.dim)): Float32Array {
  const d = map.dim;
  if (map.kind === 'full') return residentMatrix(map.matrix, d).dotAll(x, out);
  const { rank: r, u, v } = map;
  // V^T x (r values), then x + U (V^T x).
  const vx = new Float64Array(r);
  for (let i = 0; i < d; i++) {
    const xi = x[i]!;
    const row = i * r;
    for (let k = 0; k < r; k++) vx[k]! += v[row + k]! * xi;
  }
  for (let i = 0; i < d; i++) {
    let sum = x[i]!;
    const row = i * r;
    for (let k = 0; k < r; k++) sum += u[row + k]! * vx[k]!;
    out[i] = sum;
  }
  return out;
}

/**
 * The adapted query: `W q` rescaled to the length of `q`. Cosine scoring only sees the direction; keeping the
 * length keeps the reference softmax's temperatures meaning what they meant for the raw query.
 */
export function adaptQuery(map: LinearMap, query: Float32Array): Float32Array {
  const mapped = applyMap(map, query);
  const before = vectorNorm(query);
  const after = vectorNorm(mapped);
  if (after === 0 || before === 0) return Float32Array.from(query);
  const scale = before / after;
  for (let i = 0; i < mapped.length; i++) mapped[i]! *= scale;
  return mapped;
}

/** The map as a dense matrix (for measuring how far it moved from the identity). */
export function denseMatrix(map: LinearMap): Float32Array {
  if (map.kind === 'full') return map.matrix;
  const d = map.dim;
  const r = map.rank;
  const out = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let sum = i === j ? 1 : 0;
      for (let k = 0; k < r; k++) sum += map.u[i * r + k]! * map.v[j * r + k]!;
      out[i * d + j] = sum;
    }
  }
  return out;
}

/** ||W - I||_F: how far the adapter moved from leaving queries alone. */
export function distanceFromIdentity(map: LinearMap): number {
  const d = map.dim;
  const w = denseMatrix(map);
  let sum = 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      const delta = w[i * d + j]! - (i === j ? 1 : 0);
      sum += delta * delta;
    }
  }
  return Math.sqrt(sum);
}
