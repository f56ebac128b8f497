import { dotAllPlain } from './dot.js';
import { type DotRows, instantiateDotKernel } from './wasm/dot-kernel.js';

const PAGE_BYTES = 65536;
/** 65536 pages: the 4 GB ceiling of a 32-bit WebAssembly memory (about 2M rows of 512 float32s). */
const MAX_PAGES = 65536;

export interface VectorMatrixOptions {
  /** Use the WebAssembly SIMD kernel when the runtime supports it (default true). False forces the plain loop. */
  simd?: boolean;
  /** Rows to reserve up front (the memory also grows on demand). */
  initialCapacity?: number;
}

/**
 * Rows of `dim` float32s, stored contiguously (row-major, no padding) in a growable WebAssembly.Memory so
 * that the SIMD kernel scans them in place: no copy per query. Layout of the memory, in bytes:
 * `[rows: capacity * dim * 4][query: dim * 4, 16-aligned][scores: capacity * 4]`; the matrix region sits at
 * address 0 so growing keeps the rows where they are, and the query/scores scratch simply moves up.
 * Without WebAssembly SIMD (or with `simd: false`) the same layout is scanned by a plain JavaScript loop.
 */
export class VectorMatrix {
  readonly dim: number;
  private readonly memory: WebAssembly.Memory | null;
  private plainBuffer: ArrayBuffer | null;
  private readonly kernel: DotRows | null;
  private rowCount = 0;
  private rowCapacity = 0;

  constructor(dim: number, options: VectorMatrixOptions = {}) {
    if (!Number.isInteger(dim) || dim <= 0) {
      throw new RangeError(`VectorMatrix: invalid dimension ${dim} (pass the embedding width, e.g. 512)`);
    }
    this.dim = dim;
    const hasWasm = typeof WebAssembly !== 'undefined';
    this.memory = hasWasm ? new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES }) : null;
    this.plainBuffer = hasWasm ? null : new ArrayBuffer(0);
    this.kernel = this.memory && options.simd !== false ? instantiateDotKernel(this.memory, dim) : null;
    this.reserve(Math.max(1, options.initialCapacity ?? 1024));
  }

  /** Number of rows stored. */
  get rows(): number {
    return this.rowCount;
  }

  /** True when queries run on the WebAssembly SIMD kernel (false: plain JavaScript loop). */
  get usesSimd(): boolean {
    return this.kernel !== null;
  }

  /** Appends `rows.length / dim` rows; returns the index of the first one. */
  append(rows: Float32Array): number {
    if (rows.length % this.dim !== 0) {
      throw new RangeError(
        `VectorMatrix.append: ${rows.length} values is not a whole number of ${this.dim}-wide rows (pass the rows as one flat Float32Array, row after row)`,
      );
    }
    const first = this.rowCount;
    const added = rows.length / this.dim;
    this.reserve(first + added);
    new Float32Array(this.buffer, first * this.dim * 4, rows.length).set(rows);
    this.rowCount = first + added;
    return first;
  }

  /** A copy of row `i`. */
  row(i: number): Float32Array {
    this.checkIndex(i);
    return new Float32Array(this.buffer.slice(i * this.dim * 4, (i + 1) * this.dim * 4));
  }

  /** Overwrites row `i` with `vec`. */
  set(i: number, vec: Float32Array): void {
    this.checkIndex(i);
    this.checkWidth(vec, 'set');
    new Float32Array(this.buffer, i * this.dim * 4, this.dim).set(vec);
  }

  /**
   * Removes the given rows by compaction: the remaining rows keep their relative order and move down, so an
   * id array kept beside the matrix stays aligned by filtering out the same indexes. O(rows * dim).
   * Duplicate indexes are ignored; out-of-range ones throw. Returns the number of rows removed.
   */
  removeRows(indexes: number[]): number {
    const doomed = [...new Set(indexes)].sort((a, b) => a - b);
    for (const i of doomed) this.checkIndex(i);
    if (doomed.length === 0) return 0;
    const all = new Float32Array(this.buffer, 0, this.rowCount * this.dim);
    let write = doomed[0]!;
    for (let d = 0; d < doomed.length; d++) {
      const keepFrom = doomed[d]! + 1;
      const keepTo = d + 1 < doomed.length ? doomed[d + 1]! : this.rowCount;
      if (keepTo > keepFrom) {
        all.copyWithin(write * this.dim, keepFrom * this.dim, keepTo * this.dim);
        write += keepTo - keepFrom;
      }
    }
    this.rowCount -= doomed.length;
    return doomed.length;
  }

  /**
   * Scores of `query` against every row (dot products; cosine similarities for unit vectors), written into
   * `out` when given (length >= rows) or a new array.
   */
  dotAll(query: Float32Array, out?: Float32Array): Float32Array {
    this.checkWidth(query, 'dotAll');
    const rows = this.rowCount;
    const result = out ?? new Float32Array(rows);
    if (result.length < rows) {
      throw new RangeError(`VectorMatrix.dotAll: output holds ${result.length} scores, need ${rows}`);
    }
    if (rows === 0) return result;
    const buffer = this.buffer;
    if (!this.kernel) {
      dotAllPlain(new Float32Array(buffer, 0, rows * this.dim), this.dim, query, result);
      return result;
    }
    const queryAt = this.queryOffset();
    const scoresAt = queryAt + align16(this.dim * 4);
    new Float32Array(buffer, queryAt, this.dim).set(query);
    this.kernel(0, rows, queryAt, scoresAt);
    result.set(new Float32Array(buffer, scoresAt, rows));
    return result;
  }

  /**
   * A view of all rows (row-major, `rows * dim` values) without a copy. It stays valid only until the next
   * `append` (which may grow the memory); use it for bulk reads such as persisting the matrix.
   */
  view(): Float32Array {
    return new Float32Array(this.buffer, 0, this.rowCount * this.dim);
  }

  /** The WebAssembly memory holding the rows (null without WebAssembly), for kernels that scan them in place. */
  get wasmMemory(): WebAssembly.Memory | null {
    return this.memory;
  }

  private get buffer(): ArrayBuffer {
    return this.memory ? this.memory.buffer : this.plainBuffer!;
  }

  private queryOffset(): number {
    return align16(this.rowCapacity * this.dim * 4);
  }

  private bytesFor(capacity: number): number {
    return align16(capacity * this.dim * 4) + align16(this.dim * 4) + capacity * 4;
  }

  private reserve(rows: number): void {
    if (rows <= this.rowCapacity) return;
    const maxBytes = MAX_PAGES * PAGE_BYTES;
    if (this.bytesFor(rows) > maxBytes) {
      throw new RangeError(
        `VectorMatrix: ${rows} rows of ${this.dim} float32s exceed the 4 GB limit of one WebAssembly memory (split the vectors over several tables, or use the ANN index)`,
      );
    }
    let capacity = Math.max(rows, Math.ceil(this.rowCapacity * 1.5));
    while (this.bytesFor(capacity) > maxBytes) capacity = Math.max(rows, Math.floor((capacity + rows) / 2));
    const needed = this.bytesFor(capacity);
    if (this.memory) {
      const pages = Math.ceil(needed / PAGE_BYTES) - this.memory.buffer.byteLength / PAGE_BYTES;
      if (pages > 0) {
        try {
          this.memory.grow(pages);
        } catch (err) {
          throw new RangeError(
            `VectorMatrix: could not grow the vector memory to ${needed} bytes (free memory, or split the vectors over several tables)`,
            { cause: err },
          );
        }
      }
    } else {
      const grown = new ArrayBuffer(needed);
      new Uint8Array(grown).set(new Uint8Array(this.plainBuffer!, 0, this.rowCount * this.dim * 4));
      this.plainBuffer = grown;
    }
    this.rowCapacity = capacity;
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.rowCount) {
      throw new RangeError(`VectorMatrix: row ${i} out of range (rows: ${this.rowCount})`);
    }
  }

  private checkWidth(vec: Float32Array, method: string): void {
    if (vec.length !== this.dim) {
      throw new RangeError(
        `VectorMatrix.${method}: vector has ${vec.length} values, the matrix is ${this.dim} wide (embed with the model the matrix was built with)`,
      );
    }
  }
}

function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
