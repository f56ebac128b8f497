/** An uncompressed 24-bit bottom-up BMP of RGB pixels (sharp cannot write BMP). */
export function writeBmp24(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const stride = Math.ceil((width * 3) / 4) * 4;
  const buf = Buffer.alloc(54 + stride * height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      buf[row + x * 3] = rgb[i + 2]!;
      buf[row + x * 3 + 1] = rgb[i + 1]!;
      buf[row + x * 3 + 2] = rgb[i]!;
    }
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
