import { basename } from 'node:path';
import { hasReadableText } from '../../enrich/ocr.js';
import { MmragError } from '../../errors.js';
import { readBmpHeader } from '../../media/bmp.js';
import { decodeToRgb, EMBED_MAX_SIDE, sniffImageMime } from '../../media/image-decode.js';
import type { ItemDraft, Picture } from '../../types.js';
import { chunkText } from '../chunk.js';

export { type BmpHeader, decodeBmp, readBmpHeader } from '../../media/bmp.js';

import type { Loader, LoaderContext, LoaderInput } from '../loader.js';

/** Picture formats the image loader takes (BMP is converted to PNG, since sharp cannot read it). */
export const IMAGE_LOADER_MIMES = [
  'image/png',
  'image/jpeg',
  'image/webp',
  'image/gif',
  'image/bmp',
  'image/tiff',
];

/** OCR results below this mean word confidence (0-100) are mostly noise read into photos: dropped. */
export const MIN_OCR_CONFIDENCE = 45;

export const NO_CAPTION = 'No caption available';

/** Descriptions cameras write into every photo: not captions. */
const CAMERA_BOILERPLATE =
  /^(olympus digital camera|sony dsc|dcim|default|image|picture|photo|untitled|exif_jpeg_picture|minolta digital camera|digital camera|sam_\d+|img_\d+|dsc_?\d+)$/i;

/** A caption worth keeping: not blank, not a camera's boilerplate. */
function usableCaption(text: string | undefined): string | undefined {
  const clean = text?.replace(/\0+$/g, '').replace(/\s+/g, ' ').trim();
  if (!clean || CAMERA_BOILERPLATE.test(clean)) return undefined;
  return clean;
}

/**
 * The EXIF ImageDescription (tag 0x010E in IFD0) from an EXIF block, as sharp returns it
 * (optionally prefixed with `Exif\0\0`). Undefined when absent or malformed.
 */
export function exifImageDescription(exif: Uint8Array): string | undefined {
  const buf = Buffer.from(exif.buffer, exif.byteOffset, exif.byteLength);
  const base = buf.subarray(0, 6).toString('latin1') === 'Exif\0\0' ? 6 : 0;
  if (buf.length < base + 8) return undefined;
  const order = buf.subarray(base, base + 2).toString('latin1');
  if (order !== 'II' && order !== 'MM') return undefined;
  const le = order === 'II';
  const u16 = (at: number) => (le ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const u32 = (at: number) => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const ifd = base + u32(base + 4);
  if (ifd + 2 > buf.length) return undefined;
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > buf.length) return undefined;
    if (u16(entry) !== 0x010e || u16(entry + 2) !== 2) continue;
    const count = u32(entry + 4);
    const start = count <= 4 ? entry + 8 : base + u32(entry + 8);
    if (start + count > buf.length) return undefined;
    return new TextDecoder('utf-8').decode(buf.subarray(start, start + count)).replace(/\0[\s\S]*$/, '');
  }
  return undefined;
}

function decodeXmlEntities(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(Number.parseInt(n, 16)))
    .replace(/&amp;/g, '&');
}

/** The first `dc:<field>` value of an XMP packet (the `x-default` language alternative when there are several). */
export function xmpField(xmp: string, field: 'title' | 'description'): string | undefined {
  const block = new RegExp(`<dc:${field}\\b[^>]*>([\\s\\S]*?)</dc:${field}>`).exec(xmp)?.[1];
  if (block === undefined) return undefined;
  const items = [...block.matchAll(/<rdf:li\b([^>]*)>([\s\S]*?)<\/rdf:li>/g)];
  const preferred = items.find((m) => /xml:lang=["']x-default["']/.test(m[1] ?? '')) ?? items[0];
  const value = preferred ? preferred[2]! : block;
  return decodeXmlEntities(value.replace(/<[^>]*>/g, '')).trim() || undefined;
}

/** The picture's own caption: EXIF ImageDescription, XMP title or description, PNG Title/Description text. */
export function embeddedCaption(meta: {
  exif?: Uint8Array;
  xmp?: Uint8Array;
  comments?: { keyword: string; text: string }[];
}): string | undefined {
  const candidates: (string | undefined)[] = [];
  if (meta.exif) candidates.push(exifImageDescription(meta.exif));
  if (meta.xmp) {
    const xmp = new TextDecoder('utf-8').decode(meta.xmp);
    candidates.push(xmpField(xmp, 'title'), xmpField(xmp, 'description'));
  }
  for (const keyword of ['Title', 'Description']) {
    candidates.push(meta.comments?.find((c) => c.keyword === keyword)?.text);
  }
  for (const candidate of candidates) {
    const caption = usableCaption(candidate);
    if (caption) return caption;
  }
  return undefined;
}

interface PictureFacts {
  width: number;
  height: number;
  caption?: string;
}

/** Size and caption from the picture's header, without decoding its pixels. */
async function readPictureFacts(bytes: Uint8Array, mime: string): Promise<PictureFacts> {
  if (mime === 'image/bmp') {
    const header = readBmpHeader(bytes);
    return { width: header.width, height: header.height };
  }
  const { default: sharp } = await import('sharp');
  const meta = await sharp(bytes, { pages: 1, limitInputPixels: false }).metadata();
  return {
    width: meta.width ?? 0,
    height: meta.pageHeight ?? meta.height ?? 0,
    // A TIFF file is itself laid out like an EXIF block: its ImageDescription tag is read the same way.
    caption: embeddedCaption({
      exif: meta.exif ?? (mime === 'image/tiff' ? bytes : undefined),
      xmp: meta.xmp,
      comments: meta.comments,
    }),
  };
}

/**
 * Standalone pictures (PNG, JPEG, WebP, GIF, BMP, TIFF): one image item with the picture as it is (BMP
 * converted to PNG), captioned from its EXIF/XMP/PNG metadata when it has one; with OCR on, the text
 * printed in it as text items with the same title and section. Pixel bombs are refused from the header.
 */
export class ImageLoader implements Loader {
  readonly type = 'image' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    const file = input.path;
    const name = basename(file);
    const fail = (reason: string, code: string, hint?: string, cause?: unknown) =>
      new MmragError(`${file}: ${reason}`, hint, code, cause === undefined ? undefined : { cause });

    if (input.bytes.length === 0) throw fail('the file is empty', 'bad_file');
    const mime = sniffImageMime(input.bytes);
    if (!mime || !IMAGE_LOADER_MIMES.includes(mime)) {
      throw fail(
        mime ? `${mime} pictures are not supported` : 'not a picture mmrag can read',
        'unsupported',
        'Supported pictures: PNG, JPEG, WebP, GIF, BMP and TIFF.',
      );
    }
    if (input.bytes.length > ctx.limits.maxImageBytes) {
      throw fail(
        `picture is ${input.bytes.length} bytes, over the limit of ${ctx.limits.maxImageBytes}`,
        'too_large',
        'Raise maxImageBytes if the picture is genuine.',
      );
    }

    let facts: PictureFacts;
    try {
      facts = await readPictureFacts(input.bytes, mime);
    } catch (err) {
      throw fail(
        `cannot read picture: ${err instanceof Error ? err.message : String(err)}`,
        'bad_image',
        undefined,
        err,
      );
    }
    const pixels = facts.width * facts.height;
    if (!(pixels > 0)) throw fail('cannot read picture: it has no size', 'bad_image');
    if (pixels > ctx.limits.maxImagePixels) {
      throw fail(
        `picture is ${facts.width}x${facts.height} pixels, over the limit of ${ctx.limits.maxImagePixels}`,
        'too_large',
        'Raise maxImagePixels if the picture is genuine.',
      );
    }

    // The header can be whole while the pixels are cut short: decode now so that a truncated picture fails here
    // with its reason, rather than being dropped later and leaving a file with no items. The pixels are the
    // ones the model needs, so the pipeline does not decode the picture again.
    let decoded: Picture['decoded'];
    try {
      decoded = await decodeToRgb(input.bytes, {
        maxPixels: ctx.limits.maxImagePixels,
        maxSide: EMBED_MAX_SIDE,
      });
    } catch (err) {
      throw fail(
        `${err instanceof Error ? err.message : String(err)} (the file is truncated or damaged)`,
        'bad_image',
        undefined,
        err,
      );
    }

    const picture: Picture = { bytes: input.bytes, mime, origin: file, decoded };

    const title = name;
    const section = name.replace(/\.[^.]*$/, '').trim() || 'Image';
    const items: ItemDraft[] = [
      { modality: 'image', title, section, caption: facts.caption ?? NO_CAPTION, picture },
    ];

    if (ctx.ocr) {
      try {
        const { text, confidence } = await ctx.ocr.recognize(picture.bytes, ctx.signal);
        if (confidence >= MIN_OCR_CONFIDENCE && hasReadableText(text)) {
          const prefix = `Text in picture ${name}: `;
          const size = Math.max(64, ctx.chunkSize - prefix.length);
          for (const chunk of chunkText(text, size, ctx.chunkOverlap)) {
            items.push({ modality: 'text', title, section, text: `${prefix}${chunk}` });
          }
        }
      } catch (err) {
        if (err instanceof Error && err.name === 'AbortError') throw err;
        ctx.warn(`${file}: OCR failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return items;
  }
}
