/**
 * Cheap frame similarity without a model: a frame's signature is a 16x16 colour thumbnail (box-filtered,
 * values in [0, 1]), and two frames differ by the mean absolute difference of their signatures (0 = same
 * picture, 1 = black versus white everywhere). Video compression noise stays far below 0.01; a new shape,
 * slide or scene moves a large share of the cells.
 */
import type { RgbImage } from './image-decode.js';

export const SIGNATURE_SIDE = 16;

/** A 16x16 RGB thumbnail of the picture (each cell the mean of the pixels it covers), scaled to [0, 1]. */
export function frameSignature(rgb: RgbImage): Float32Array {
  const side = SIGNATURE_SIDE;
  const signature = new Float32Array(side * side * 3);
  const { width, height, data } = rgb;
  if (width <= 0 || height <= 0) return signature;
  for (let cy = 0; cy < side; cy++) {
    const y0 = Math.floor((cy * height) / side);
    const y1 = Math.max(y0 + 1, Math.floor(((cy + 1) * height) / side));
    for (let cx = 0; cx < side; cx++) {
      const x0 = Math.floor((cx * width) / side);
      const x1 = Math.max(x0 + 1, Math.floor(((cx + 1) * width) / side));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let y = y0; y < y1; y++) {
        let p = (y * width + x0) * 3;
        for (let x = x0; x < x1; x++, p += 3) {
          r += data[p]!;
          g += data[p + 1]!;
          b += data[p + 2]!;
        }
      }
      const scale = 1 / ((y1 - y0) * (x1 - x0) * 255);
      const o = (cy * side + cx) * 3;
      signature[o] = r * scale;
      signature[o + 1] = g * scale;
      signature[o + 2] = b * scale;
    }
  }
  return signature;
}

/** Mean absolute difference of two signatures of the same length, in [0, 1]. */
export function signatureDistance(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`signature lengths differ: ${a.length} and ${b.length}`);
  if (a.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

/**
 * The frames worth keeping, in their order: the first, then each frame whose signature is at least
 * `minDistance` from the last frame kept (a slow drift therefore yields a new frame once it has drifted far
 * enough, not never).
 */
export function dedupeFrames<T extends { time: number; signature: Float32Array }>(
  frames: readonly T[],
  minDistance: number,
): T[] {
  const kept: T[] = [];
  for (const frame of frames) {
    const last = kept[kept.length - 1];
    if (!last || signatureDistance(last.signature, frame.signature) >= minDistance) kept.push(frame);
  }
  return kept;
}
