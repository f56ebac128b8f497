/**
 * A tiny WebAssembly binary encoder: just enough to emit small numeric kernels from TypeScript
 * (one imported memory, a few functions, i32/f32/v128 locals). No dependency, no build step.
 * Binary format reference: https://webassembly.github.io/spec/core/binary/
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValueType = typeof I32 | typeof F32 | typeof V128;

/** Unsigned LEB128. */
export function uleb(value: number): number[] {
  const out: number[] = [];
  let n = value >>> 0;
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (for i32.const). */
export function sleb(value: number): number[] {
  const out: number[] = [];
  let n = value | 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function utf8(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** Instructions, each returning its bytes. Memory accesses take a byte offset immediate (default 0). */
export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  i32: (value: number) => [0x41, ...sleb(value)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Shl: [0x74],
  i32GeU: [0x4f],
  i32LtU: [0x49],
  f32Load: (offset = 0) => [0x2a, 2, ...uleb(offset)],
  f32Store: (offset = 0) => [0x38, 2, ...uleb(offset)],
  f32Add: [0x92],
  f32Mul: [0x94],
  f32Zero: [0x43, 0, 0, 0, 0],
  v128Load: (offset = 0) => [0xfd, 0x00, 2, ...uleb(offset)],
  v128Zero: [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  f32x4Add: [0xfd, ...uleb(0xe4)],
  f32x4Mul: [0xfd, ...uleb(0xe6)],
  f32x4Lane: (lane: number) => [0xfd, 0x1f, lane],
};

export interface WasmFunction {
  /** Exported under this name. */
  name: string;
  params: ValueType[];
  results: ValueType[];
  /** Extra locals, indexed after the params. */
  locals: ValueType[];
  /** The body's instructions (without the final `end`). */
  body: number[][];
}

/** A module that imports its memory as `env.memory` and exports every function by name. */
export function encodeModule(functions: WasmFunction[]): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [
    0x60,
    ...vector(f.params.map((t) => [t])),
    ...vector(f.results.map((t) => [t])),
  ]);
  const memoryImport = [...utf8('env'), ...utf8('memory'), 0x02, 0x00, ...uleb(0)];
  const funcIndexes = functions.map((_, i) => uleb(i));
  const exports = functions.map((f, i) => [...utf8(f.name), 0x00, ...uleb(i)]);
  const codes = functions.map((f) => {
    const locals = vector(f.locals.map((t) => [1, t]));
    const body = [...locals, ...f.body.flat(), ...op.end];
    return [...uleb(body.length), ...body];
  });
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(funcIndexes)),
    ...section(7, vector(exports)),
    ...section(10, vector(codes)),
  ]);
}
