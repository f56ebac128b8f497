import type { Sharp } from 'sharp';
import { MmragError } from '../errors.js';
import { decodeBmp, readBmpHeader } from './bmp.js';

/** A decoded RGB picture, ready for a vision model. */
export interface RgbImage {
  /** Interleaved RGB bytes, `width * height * 3` long. */
  data: Uint8Array;
  width: number;
  height: number;
}

/** Pictures are shrunk to at most this many pixels on the longer side for embedding (models need far fewer). */
export const EMBED_MAX_SIDE = 1024;

export interface DecodeOptions {
  /** Refuse pictures with more decoded pixels than this (decompression bombs). */
  maxPixels: number;
  /** Downscale so that the longer side is at most this many pixels (embedding needs few). */
  maxSide?: number;
}

/** MIME type from magic bytes, or undefined when the bytes are not a picture format we read. */
export function sniffImageMime(bytes: Uint8Array): string | undefined {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'image/gif';
  if (
    b.length >= 12 &&
    b[0] === 0x52 &&
    b[1] === 0x49 &&
    b[2] === 0x46 &&
    b[3] === 0x46 &&
    b[8] === 0x57 &&
    b[9] === 0x45 &&
    b[10] === 0x42 &&
    b[11] === 0x50
  )
    return 'image/webp';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'image/bmp';
  if (
    b.length >= 4 &&
    ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a) || (b[0] === 0x4d && b[1] === 0x4d && b[3] === 0x2a))
  )
    return 'image/tiff';
  if (b.length >= 12 && b[4] === 0x66 && b[5] === 0x74 && b[6] === 0x79 && b[7] === 0x70) {
    const brand = String.fromCharCode(b[8]!, b[9]!, b[10]!, b[11]!);
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    if (brand.startsWith('hei') || brand.startsWith('mif')) return 'image/heic';
  }
  const head = new TextDecoder().decode(b.subarray(0, 512)).trimStart().toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'image/svg+xml';
  return undefined;
}

/**
 * Decode any picture sharp reads into RGB, honouring EXIF orientation, flattening transparency
 * onto white, taking the first frame of animations, and refusing pixel bombs before decoding.
 */
export async function decodeToRgb(bytes: Uint8Array, options: DecodeOptions): Promise<RgbImage> {
  const sharp = (await import('sharp')).default;
  let pipeline: Sharp;
  try {
    if (sniffImageMime(bytes) === 'image/bmp') {
      // sharp cannot read BMP: decode it ourselves (after checking its size) and hand sharp the pixels.
      const { width, height } = readBmpHeader(bytes);
      if (width * Math.abs(height) > options.maxPixels) {
        throw new MmragError(
          `picture is ${width}x${Math.abs(height)} pixels, over the limit of ${options.maxPixels}`,
          'Raise ingest.maxImagePixels if the picture is genuine.',
          'too_large',
        );
      }
      const rgb = decodeBmp(bytes);
      pipeline = sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } });
    } else pipeline = sharp(bytes, { limitInputPixels: options.maxPixels, pages: 1, failOn: 'error' });
    const meta = await pipeline.metadata();
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    if (width * height > options.maxPixels) {
      throw new MmragError(
        `picture is ${width}x${height} pixels, over the limit of ${options.maxPixels}`,
        'Raise ingest.maxImagePixels if the picture is genuine.',
        'too_large',
      );
    }
  } catch (err) {
    if (err instanceof MmragError) throw err;
    throw new MmragError(`cannot read picture: ${(err as Error).message}`, undefined, 'bad_image');
  }
  try {
    let p = pipeline.rotate().flatten({ background: '#ffffff' }).removeAlpha().toColourspace('srgb');
    if (options.maxSide) {
      p = p.resize({
        width: options.maxSide,
        height: options.maxSide,
        fit: 'inside',
        withoutEnlargement: true,
      });
    }
    const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`unexpected ${info.channels} channels`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
    };
  } catch (err) {
    throw new MmragError(`cannot decode picture: ${(err as Error).message}`, undefined, 'bad_image');
  }
}
