import { encodeModule, F32, I32, op, V128, type WasmFunction } from './encoder.js';

/**
 * `dot_rows(matrix, rows, query, out)`: out[r] = matrix[r] . query for every row of a row-major matrix, all
 * arguments byte addresses in the imported memory. The module is generated for one `dim`, so row strides are
 * constant load offsets: eight rows per pass share each f32x4 load of the query (eight independent
 * accumulators, eight memory streams), the remaining rows run one by one, and the `dim % 4` tail is unrolled.
 * Each row sums as four f32x4 lanes, then (l0 + l1) + (l2 + l3), then the tail in order.
 * Addresses are compared unsigned, so matrices up to the 4 GB limit of a 32-bit memory work.
 */
const ROWS_PER_PASS = 8;
const [MAT, ROWS, QUERY, OUT] = [0, 1, 2, 3];
const [ROW, PJ, QJ, END] = [4, 5, 6, 7];
const QV = 8;
const ACC = (i: number) => 9 + i;
const SUM = 9 + ROWS_PER_PASS;

const increment = (local: number, amount: number) => [
  ...op.get(local),
  ...op.i32(amount),
  ...op.i32Add,
  ...op.set(local),
];

/** `while (rows - row >= count) { score `count` rows; advance }`, for a matrix of `dim` columns. */
function pass(dim: number, count: number): number[][] {
  const rowBytes = dim * 4;
  const vectorBytes = (dim - (dim % 4)) * 4;
  const body: number[][] = [];
  body.push([...op.block, ...op.loop]);
  // rows < row + count (unsigned) -> done
  body.push([...op.get(ROWS), ...op.get(ROW), ...op.i32(count), ...op.i32Add, ...op.i32LtU, ...op.brIf(1)]);
  for (let i = 0; i < count; i++) body.push([...op.v128Zero, ...op.set(ACC(i))]);
  if (vectorBytes > 0) {
    body.push([...op.get(MAT), ...op.set(PJ), ...op.get(QUERY), ...op.set(QJ)]);
    body.push([...op.get(MAT), ...op.i32(vectorBytes), ...op.i32Add, ...op.set(END)]);
    body.push(op.loop);
    body.push([...op.get(QJ), ...op.v128Load(), ...op.set(QV)]);
    for (let i = 0; i < count; i++) {
      body.push([
        ...[...op.get(ACC(i)), ...op.get(PJ), ...op.v128Load(i * rowBytes), ...op.get(QV)],
        ...[...op.f32x4Mul, ...op.f32x4Add, ...op.set(ACC(i))],
      ]);
    }
    body.push([...increment(PJ, 16), ...increment(QJ, 16)]);
    body.push([...op.get(PJ), ...op.get(END), ...op.i32LtU, ...op.brIf(0), ...op.end]);
  }
  for (let i = 0; i < count; i++) {
    const lane = (n: number) => [...op.get(ACC(i)), ...op.f32x4Lane(n)];
    body.push([...lane(0), ...lane(1), ...op.f32Add, ...lane(2), ...lane(3), ...op.f32Add, ...op.f32Add]);
    body.push(op.set(SUM));
    for (let e = vectorBytes; e < rowBytes; e += 4) {
      body.push([...op.get(SUM), ...op.get(MAT), ...op.f32Load(i * rowBytes + e)]);
      body.push([...op.get(QUERY), ...op.f32Load(e), ...op.f32Mul, ...op.f32Add, ...op.set(SUM)]);
    }
    body.push([...op.get(OUT), ...op.get(SUM), ...op.f32Store(i * 4)]);
  }
  body.push([...increment(OUT, 4 * count), ...increment(MAT, count * rowBytes), ...increment(ROW, count)]);
  body.push([...op.br(0), ...op.end, ...op.end]);
  return body;
}

function dotRowsFunction(dim: number): WasmFunction {
  return {
    name: 'dot_rows',
    params: [I32, I32, I32, I32],
    results: [],
    locals: [I32, I32, I32, I32, V128, ...new Array<typeof V128>(ROWS_PER_PASS).fill(V128), F32],
    body: [...pass(dim, ROWS_PER_PASS), ...pass(dim, 1)],
  };
}

export type DotRows = (matrix: number, rows: number, query: number, out: number) => void;

const compiled = new Map<number, WebAssembly.Module | null>();

/** The kernel compiled for `dim`, or null when this runtime has no WebAssembly SIMD (or no WebAssembly). */
export function dotKernelModule(dim: number): WebAssembly.Module | null {
  const cached = compiled.get(dim);
  if (cached !== undefined) return cached;
  let module: WebAssembly.Module | null = null;
  if (typeof WebAssembly !== 'undefined') {
    const bytes = encodeModule([dotRowsFunction(dim)]);
    if (WebAssembly.validate(bytes)) module = new WebAssembly.Module(bytes);
  }
  compiled.set(dim, module);
  return module;
}

/** `dot_rows` for `dim`-wide rows in `memory`, or null without SIMD support. */
export function instantiateDotKernel(memory: WebAssembly.Memory, dim: number): DotRows | null {
  const module = dotKernelModule(dim);
  if (!module) return null;
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports.dot_rows as DotRows;
}
