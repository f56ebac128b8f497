/** BMP, which sharp cannot read: a header reader and a decoder for the uncompressed kinds. */

/** A BMP's header facts. */
export interface BmpHeader {
  width: number;
  /** Positive; `topDown` says the row order. */
  height: number;
  topDown: boolean;
  bitsPerPixel: number;
  compression: number;
  pixelOffset: number;
  headerSize: number;
}

export function readBmpHeader(bytes: Uint8Array): BmpHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 26 || buf[0] !== 0x42 || buf[1] !== 0x4d) throw new Error('not a BMP file');
  const pixelOffset = buf.readUInt32LE(10);
  const headerSize = buf.readUInt32LE(14);
  if (headerSize === 12) {
    return {
      width: buf.readUInt16LE(18),
      height: buf.readUInt16LE(20),
      topDown: false,
      bitsPerPixel: buf.readUInt16LE(24),
      compression: 0,
      pixelOffset,
      headerSize,
    };
  }
  if (headerSize < 40 || buf.length < 14 + 40) throw new Error(`unknown BMP header of ${headerSize} bytes`);
  const rawHeight = buf.readInt32LE(22);
  return {
    width: buf.readInt32LE(18),
    height: Math.abs(rawHeight),
    topDown: rawHeight < 0,
    bitsPerPixel: buf.readUInt16LE(28),
    compression: buf.readUInt32LE(30),
    pixelOffset,
    headerSize,
  };
}

/** Channel value from a bit-field mask, scaled to 0-255. */
function maskChannel(value: number, mask: number): number {
  if (mask === 0) return 0;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return Math.round((((value & mask) >>> shift) * 255) / max);
}

/**
 * Decode an uncompressed BMP (1, 4, 8-bit palette; 16, 24, 32-bit, with or without bit-field masks) into
 * RGB pixels. RLE-compressed and embedded JPEG/PNG BMPs are refused.
 */
export function decodeBmp(bytes: Uint8Array): { data: Uint8Array; width: number; height: number } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = readBmpHeader(bytes);
  const { width, height, bitsPerPixel: bpp, compression } = h;
  if (width <= 0 || height <= 0) throw new Error(`BMP has an invalid size ${width}x${height}`);
  const BI_RGB = 0;
  const BI_BITFIELDS = 3;
  const BI_ALPHABITFIELDS = 6;
  if (compression !== BI_RGB && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    throw new Error(`compressed BMP (compression ${compression}) is not supported`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(bpp))
    throw new Error(`BMP with ${bpp} bits per pixel is not supported`);
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (h.pixelOffset + stride * height > buf.length) throw new Error('BMP pixel data is truncated');

  let palette: Uint8Array | undefined;
  if (bpp <= 8) {
    const entrySize = h.headerSize === 12 ? 3 : 4;
    const colorsUsed = h.headerSize >= 40 ? buf.readUInt32LE(46) : 0;
    const count = colorsUsed > 0 ? Math.min(colorsUsed, 1 << bpp) : 1 << bpp;
    const start = 14 + h.headerSize;
    palette = new Uint8Array(256 * 3);
    for (let i = 0; i < count && start + i * entrySize + 2 < buf.length; i++) {
      palette[i * 3] = buf[start + i * entrySize + 2]!;
      palette[i * 3 + 1] = buf[start + i * entrySize + 1]!;
      palette[i * 3 + 2] = buf[start + i * entrySize]!;
    }
  }
  let masks: [number, number, number] | undefined;
  if (bpp === 16 || bpp === 32) {
    if (compression === BI_RGB) {
      masks = bpp === 16 ? [0x7c00, 0x03e0, 0x001f] : [0xff0000, 0x00ff00, 0x0000ff];
    } else {
      // Masks follow a 40-byte header, or sit inside the V4/V5 header at the same offset.
      if (buf.length < 14 + 40 + 12) throw new Error('BMP bit-field masks are missing');
      masks = [buf.readUInt32LE(54), buf.readUInt32LE(58), buf.readUInt32LE(62)];
    }
  }

  const out = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const y = h.topDown ? row : height - 1 - row;
    const line = h.pixelOffset + row * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (palette) {
        const bitOffset = x * bpp;
        const byte = buf[line + (bitOffset >> 3)]!;
        const index = (byte >> (8 - bpp - (bitOffset & 7))) & ((1 << bpp) - 1);
        out[o] = palette[index * 3]!;
        out[o + 1] = palette[index * 3 + 1]!;
        out[o + 2] = palette[index * 3 + 2]!;
      } else if (bpp === 24) {
        out[o] = buf[line + x * 3 + 2]!;
        out[o + 1] = buf[line + x * 3 + 1]!;
        out[o + 2] = buf[line + x * 3]!;
      } else if (masks) {
        const value = bpp === 16 ? buf.readUInt16LE(line + x * 2) : buf.readUInt32LE(line + x * 4);
        out[o] = maskChannel(value, masks[0]);
        out[o + 1] = maskChannel(value, masks[1]);
        out[o + 2] = maskChannel(value, masks[2]);
      }
    }
  }
  return { data: out, width, height };
}
