/**
 * Dot products of one query against every row of a row-major matrix.
 * `out[i] = sum_j matrix[i*dim + j] * query[j]`.
 */
export function dotAll(matrix: Float32Array, dim: number, query: Float32Array, out?: Float32Array): Float32Array {
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
