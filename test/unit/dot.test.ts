import { describe, expect, it } from 'vitest';
import { dotAll, dotAllPlain } from '../../src/vector/dot.js';
import { VectorMatrix } from '../../src/vector/matrix.js';
import { dotKernelModule } from '../../src/vector/wasm/dot-kernel.js';
import { seededRandom as random } from '../helpers/random.js';

function randomArray(length: number, seed: number): Float32Array {
  const next = random(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = next() * 2 - 1;
  return out;
}

/** Checks float32 results against float64 dot products, within float32 summation error. */
function expectNearReference(
  matrix: Float32Array,
  dim: number,
  query: Float32Array,
  got: Float32Array,
): void {
  const rows = Math.floor(matrix.length / dim);
  expect(got.length).toBeGreaterThanOrEqual(rows);
  for (let r = 0; r < rows; r++) {
    let exact = 0;
    let magnitude = 0;
    for (let j = 0; j < dim; j++) {
      const term = matrix[r * dim + j]! * query[j]!;
      exact += term;
      magnitude += Math.abs(term);
    }
    const tolerance = (dim + 2) * 2 ** -23 * magnitude + 1e-30;
    if (Math.abs(got[r]! - exact) > tolerance) {
      throw new Error(`row ${r}: got ${got[r]}, expected ${exact} (tolerance ${tolerance})`);
    }
  }
}

describe('dotAll', () => {
  const shapes: Array<[rows: number, dim: number]> = [
    [0, 4],
    [1, 1],
    [3, 7],
    [5, 4],
    [17, 3],
    [1000, 5],
    [1003, 16],
    [257, 512],
    [300, 513],
    [9, 1027],
  ];
  for (const [rows, dim] of shapes) {
    it(`matches float64 dot products for ${rows} x ${dim}`, () => {
      const matrix = randomArray(rows * dim, rows * 31 + dim);
      const query = randomArray(dim, dim);
      expectNearReference(matrix, dim, query, dotAll(matrix, dim, query));
      expectNearReference(matrix, dim, query, dotAllPlain(matrix, dim, query));
    });
  }

  it('writes into the given output and returns it', () => {
    const matrix = randomArray(600 * 32, 1);
    const query = randomArray(32, 2);
    const out = new Float32Array(600).fill(Number.NaN);
    expect(dotAll(matrix, 32, query, out)).toBe(out);
    expectNearReference(matrix, 32, query, out);
  });

  it('gives the same answer on repeated calls with different widths (reused staging memory)', () => {
    const a = randomArray(2000 * 64, 3);
    const qa = randomArray(64, 4);
    const first = dotAll(a, 64, qa);
    const b = randomArray(50 * 4000, 5);
    expectNearReference(b, 4000, randomArray(4000, 6), dotAll(b, 4000, randomArray(4000, 6)));
    expect(dotAll(a, 64, qa)).toEqual(first);
  });
});

describe('VectorMatrix', () => {
  it('runs on the WebAssembly SIMD kernel in this runtime', () => {
    expect(dotKernelModule(8)).not.toBeNull();
    expect(dotKernelModule(3)).not.toBeNull();
    expect(new VectorMatrix(8).usesSimd).toBe(true);
    expect(new VectorMatrix(8, { simd: false }).usesSimd).toBe(false);
  });

  for (const simd of [true, false]) {
    it(`appends, grows and scores every row (simd: ${simd})`, () => {
      const dim = 13;
      const vm = new VectorMatrix(dim, { simd, initialCapacity: 2 });
      const all = randomArray(dim * 5000, 7);
      let appended = 0;
      for (const count of [1, 3, 100, 1, 2895, 1000, 1000]) {
        expect(vm.append(all.subarray(appended * dim, (appended + count) * dim))).toBe(appended);
        appended += count;
        expect(vm.rows).toBe(appended);
      }
      expect(vm.dim).toBe(dim);
      const query = randomArray(dim, 8);
      const scores = vm.dotAll(query);
      expect(scores.length).toBe(5000);
      expectNearReference(all, dim, query, scores);
      expect(vm.row(4321)).toEqual(all.subarray(4321 * dim, 4322 * dim));
      expect(vm.view()).toEqual(all);
    });

    it(`sets and removes rows by compaction, keeping order (simd: ${simd})`, () => {
      const dim = 4;
      const vm = new VectorMatrix(dim, { simd });
      const rows = Array.from({ length: 10 }, (_, i) => [i, i + 0.5, -i, 1]);
      vm.append(new Float32Array(rows.flat()));
      vm.set(9, new Float32Array([90, 91, 92, 93]));
      rows[9] = [90, 91, 92, 93];
      expect(vm.removeRows([0, 4, 5, 9, 4])).toBe(4);
      const kept = [1, 2, 3, 6, 7, 8];
      expect(vm.rows).toBe(kept.length);
      kept.forEach((original, i) => {
        expect([...vm.row(i)]).toEqual(rows[original]);
      });
      const query = new Float32Array([1, 2, 3, 4]);
      const expected = kept.map((o) => rows[o]!.reduce((s, v, j) => s + v * query[j]!, 0));
      expect([...vm.dotAll(query)]).toEqual(expected);
      expect(vm.removeRows([])).toBe(0);
      vm.append(new Float32Array([1, 1, 1, 1]));
      expect([...vm.row(6)]).toEqual([1, 1, 1, 1]);
      expect(vm.dotAll(query)[6]).toBe(10);
    });
  }

  it('writes scores into a caller-provided array', () => {
    const vm = new VectorMatrix(3);
    vm.append(new Float32Array([1, 0, 0, 0, 1, 0]));
    const out = new Float32Array(5).fill(-1);
    expect(vm.dotAll(new Float32Array([2, 3, 4]), out)).toBe(out);
    expect([...out]).toEqual([2, 3, -1, -1, -1]);
    expect(() => vm.dotAll(new Float32Array([1, 1, 1]), new Float32Array(1))).toThrow(
      /holds 1 scores, need 2/,
    );
  });

  it('throws actionable errors on bad input', () => {
    const vm = new VectorMatrix(4);
    expect(() => new VectorMatrix(0)).toThrow(RangeError);
    expect(() => vm.append(new Float32Array(5))).toThrow(/whole number of 4-wide rows/);
    vm.append(new Float32Array(8));
    expect(() => vm.dotAll(new Float32Array(3))).toThrow(/3 values, the matrix is 4 wide/);
    expect(() => vm.row(2)).toThrow(/out of range/);
    expect(() => vm.set(-1, new Float32Array(4))).toThrow(/out of range/);
    expect(() => vm.removeRows([1, 2])).toThrow(/out of range/);
    expect(vm.rows).toBe(2);
  });
});
