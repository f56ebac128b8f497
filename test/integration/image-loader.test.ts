import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTesseractOcr } from '../../src/enrich/ocr.js';
import type { OcrEngine } from '../../src/enrich/types.js';
import { MmragError } from '../../src/errors.js';
import {
  decodeBmp,
  exifImageDescription,
  ImageLoader,
  NO_CAPTION,
  xmpField,
} from '../../src/ingest/loaders/image.js';
import { decodeToRgb, sniffImageMime } from '../../src/media/image-decode.js';
import { FolderMediaStore } from '../../src/store/media-store.js';
import { writeBmp24 } from '../helpers/bmp.js';
import { images, texts } from '../helpers/items.js';
import { testLoaderContext } from '../helpers/loader-context.js';
import { printedTextSvg, redCircleSvg } from '../helpers/make-pdf.js';

const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A 24-bit bottom-up BMP of RGB pixels. */

/** An uncompressed 8-bit grey little-endian TIFF filled with 128, with an ImageDescription tag. */
function writeGrayTiff(width: number, height: number, description: string): Uint8Array {
  const desc = Buffer.from(`${description}\0`, 'latin1');
  const tags: [number, number, number, number][] = [
    // tag, type (3 short, 4 long, 2 ascii), count, value (or offset, patched below)
    [256, 3, 1, width],
    [257, 3, 1, height],
    [258, 3, 1, 8],
    [259, 3, 1, 1],
    [262, 3, 1, 1],
    [270, 2, desc.length, 0],
    [273, 4, 1, 0],
    [277, 3, 1, 1],
    [278, 3, 1, height],
    [279, 4, 1, width * height],
  ];
  const ifdSize = 2 + tags.length * 12 + 4;
  const descAt = 8 + ifdSize;
  const pixelsAt = descAt + desc.length;
  const buf = Buffer.alloc(pixelsAt + width * height, 128);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(8, 4);
  buf.writeUInt16LE(tags.length, 8);
  tags.forEach(([tag, type, count, value], i) => {
    const at = 10 + i * 12;
    buf.writeUInt16LE(tag, at);
    buf.writeUInt16LE(type, at + 2);
    buf.writeUInt32LE(count, at + 4);
    if (tag === 270) buf.writeUInt32LE(descAt, at + 8);
    else if (tag === 273) buf.writeUInt32LE(pixelsAt, at + 8);
    else if (type === 3) buf.writeUInt16LE(value, at + 8);
    else buf.writeUInt32LE(value, at + 8);
  });
  buf.writeUInt32LE(0, 10 + tags.length * 12);
  desc.copy(buf, descAt);
  return u8(buf);
}

async function textPng(word: string): Promise<Uint8Array> {
  return u8(
    await sharp(Buffer.from(printedTextSvg(word, 700, 180, 80)))
      .png()
      .toBuffer(),
  );
}

let ocr: OcrEngine;
beforeAll(() => {
  ocr = createTesseractOcr();
});
afterAll(async () => {
  await ocr?.dispose();
});

describe('ImageLoader', () => {
  it('keeps a PNG as it is and adds the printed text as a text item tied to it', async () => {
    const png = await textPng('WOMBAT');
    const items = await new ImageLoader().load(
      { path: '/pics/sign.png', bytes: png },
      testLoaderContext({ ocr }),
    );
    const [picture] = images(items);
    expect(picture).toMatchObject({ title: 'sign.png', section: 'sign', caption: NO_CAPTION });
    expect(picture!.picture.bytes).toBe(png);
    expect(picture!.picture.mime).toBe('image/png');
    const ocrItems = texts(items);
    expect(ocrItems).toHaveLength(1);
    expect(ocrItems[0]).toMatchObject({ title: 'sign.png', section: 'sign' });
    expect(ocrItems[0]!.text).toMatch(/^Text in picture sign\.png: /);
    expect(ocrItems[0]!.text).toContain('WOMBAT');
  });

  it('adds no text item without OCR, or for a picture with no text in it', async () => {
    const png = await textPng('WOMBAT');
    expect(
      texts(await new ImageLoader().load({ path: '/pics/sign.png', bytes: png }, testLoaderContext())),
    ).toEqual([]);
    const circle = u8(
      await sharp(Buffer.from(redCircleSvg(256)))
        .png()
        .toBuffer(),
    );
    const items = await new ImageLoader().load(
      { path: '/pics/circle.png', bytes: circle },
      testLoaderContext({ ocr }),
    );
    expect(items.map((i) => i.modality)).toEqual(['image']);
  });

  it('honours EXIF orientation: the picture decodes upright and OCR reads it', async () => {
    const upright = await sharp(Buffer.from(printedTextSvg('KESTREL', 700, 180, 80)))
      .png()
      .toBuffer();
    // Orientation 6 means "rotate 90 degrees clockwise to display": store the pixels turned the other way.
    const jpeg = u8(
      await sharp(await sharp(upright).rotate(-90).toBuffer())
        .jpeg({ quality: 95 })
        .withMetadata({ orientation: 6 })
        .toBuffer(),
    );
    const meta = await sharp(jpeg).metadata();
    expect([meta.width, meta.height, meta.orientation]).toEqual([180, 700, 6]);
    const items = await new ImageLoader().load(
      { path: '/pics/turned.jpg', bytes: jpeg },
      testLoaderContext({ ocr }),
    );
    const picture = images(items)[0]!;
    expect(picture.picture.bytes).toBe(jpeg);
    const rgb = await decodeToRgb(picture.picture.bytes, { maxPixels: 1e8 });
    expect([rgb.width, rgb.height]).toEqual([700, 180]);
    expect(
      texts(items)
        .map((i) => i.text)
        .join(' '),
    ).toContain('KESTREL');
  });

  it('refuses a pixel bomb from its header, before decoding', async () => {
    const small = Buffer.from(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
        .png()
        .toBuffer(),
    );
    // IHDR sits right after the 8-byte signature: length(4) type(4) width(4) height(4) ... crc.
    small.writeUInt32BE(60_000, 16);
    small.writeUInt32BE(60_000, 20);
    small.writeUInt32BE(crc32(small.subarray(12, 29)), 29);
    const err = await new ImageLoader()
      .load({ path: '/pics/bomb.png', bytes: u8(small) }, testLoaderContext())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmragError);
    expect((err as MmragError).message).toBe(
      '/pics/bomb.png: picture is 60000x60000 pixels, over the limit of 100000000',
    );
    expect((err as MmragError).code).toBe('too_large');

    const big = u8(
      await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#fff' } })
        .png()
        .toBuffer(),
    );
    const ctx = testLoaderContext({ limits: { maxImagePixels: 1_000_000 } });
    await expect(new ImageLoader().load({ path: '/pics/big.png', bytes: big }, ctx)).rejects.toThrow(
      /big\.png: picture is 2000x1000 pixels, over the limit of 1000000/,
    );
  });

  it('reads the first frame of an animated GIF', async () => {
    const frame = async (word: string) =>
      sharp(Buffer.from(printedTextSvg(word, 700, 180, 80)))
        .png()
        .toBuffer();
    const gif = u8(
      await sharp([await frame('FIRST'), await frame('SECOND')], { join: { animated: true } })
        .gif()
        .toBuffer(),
    );
    expect((await sharp(gif, { pages: -1 }).metadata()).pages).toBe(2);
    const items = await new ImageLoader().load(
      { path: '/pics/anim.gif', bytes: gif },
      testLoaderContext({ ocr }),
    );
    const picture = images(items)[0]!;
    expect(sniffImageMime(picture.picture.bytes)).toBe('image/gif');
    const rgb = await decodeToRgb(picture.picture.bytes, { maxPixels: 1e8 });
    expect([rgb.width, rgb.height]).toEqual([700, 180]);
    const text = texts(items)
      .map((i) => i.text)
      .join(' ');
    expect(text).toContain('FIRST');
    expect(text).not.toContain('SECOND');
  });

  it('reads BMP (sharp cannot: mmrag decodes it), keeps it as PNG in the knowledge base, and OCRs it', async () => {
    const { data, info } = await sharp(Buffer.from(printedTextSvg('BADGER', 701, 181, 80)))
      .flatten({ background: '#fff' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const bmp = writeBmp24(u8(data), info.width, info.height);
    const items = await new ImageLoader().load(
      { path: '/pics/scan.bmp', bytes: bmp },
      testLoaderContext({ ocr }),
    );
    const picture = images(items)[0]!;
    expect(picture.picture.mime).toBe('image/bmp');
    const rgb = await decodeToRgb(picture.picture.bytes, { maxPixels: 1e8 });
    expect([rgb.width, rgb.height]).toEqual([701, 181]);
    expect(Buffer.from(rgb.data).equals(data)).toBe(true);
    expect(picture.picture.decoded?.width).toBe(701);
    // The stored copy is a PNG (every multimodal LLM reads it), with the same pixels.
    const media = new FolderMediaStore(mkdtempSync(join(tmpdir(), 'mmrag-media-')));
    const rel = await media.save(picture.picture.bytes, 'image/bmp');
    expect(rel).toMatch(/\.png$/);
    const stored = await decodeToRgb(readFileSync(media.path(rel)), { maxPixels: 1e8 });
    expect(Buffer.from(stored.data).equals(data)).toBe(true);
    expect(
      texts(items)
        .map((i) => i.text)
        .join(' '),
    ).toContain('BADGER');
  });

  it('reads WebP and TIFF, and takes captions from EXIF and XMP metadata', async () => {
    const base = sharp(Buffer.from(redCircleSvg(64))).flatten({ background: '#fff' });
    const webp = u8(await base.clone().webp().toBuffer());
    const tiff = writeGrayTiff(8, 8, 'A grey square, described in its TIFF tag');
    const jpeg = u8(
      await base
        .clone()
        .jpeg()
        .withXmp(
          '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">Circle &amp; friends</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>',
        )
        .toBuffer(),
    );
    const boilerplate = u8(
      await base
        .clone()
        .jpeg()
        .withExif({ IFD0: { ImageDescription: 'OLYMPUS DIGITAL CAMERA' } })
        .toBuffer(),
    );
    const loader = new ImageLoader();
    const caption = async (path: string, bytes: Uint8Array) =>
      images(await loader.load({ path, bytes }, testLoaderContext()))[0]!;
    expect((await caption('/p/a.webp', webp)).caption).toBe(NO_CAPTION);
    expect((await caption('/p/a.webp', webp)).picture.mime).toBe('image/webp');
    const tiffItem = await caption('/p/b.tiff', tiff);
    expect(tiffItem.caption).toBe('A grey square, described in its TIFF tag');
    expect((await decodeToRgb(tiffItem.picture.bytes, { maxPixels: 1e8 })).data[0]).toBe(128);
    expect((await caption('/p/c.jpg', jpeg)).caption).toBe('Circle & friends');
    expect((await caption('/p/d.jpg', boilerplate)).caption).toBe(NO_CAPTION);
    expect((await caption('/p/.jpg', boilerplate)).section).toBe('Image');
  });

  it('fails unsupported, empty, oversized and corrupt files clearly', async () => {
    const loader = new ImageLoader();
    const svg = new TextEncoder().encode(redCircleSvg(64));
    await expect(loader.load({ path: '/p/x.svg', bytes: svg }, testLoaderContext())).rejects.toThrow(
      '/p/x.svg: image/svg+xml pictures are not supported',
    );
    await expect(
      loader.load({ path: '/p/e.png', bytes: new Uint8Array() }, testLoaderContext()),
    ).rejects.toThrow('/p/e.png: the file is empty');
    await expect(
      loader.load({ path: '/p/t.png', bytes: new TextEncoder().encode('hello') }, testLoaderContext()),
    ).rejects.toThrow('/p/t.png: not a picture mmrag can read');
    const png = await textPng('X');
    const ctx = testLoaderContext({ limits: { maxImageBytes: 100 } });
    await expect(loader.load({ path: '/p/big.png', bytes: png }, ctx)).rejects.toThrow(
      `/p/big.png: picture is ${png.length} bytes, over the limit of 100`,
    );
    const corrupt = png.slice(0, 20);
    await expect(loader.load({ path: '/p/cut.png', bytes: corrupt }, testLoaderContext())).rejects.toThrow(
      /^\/p\/cut\.png: cannot read picture/,
    );
  });
});

describe('BMP decoding', () => {
  it('decodes 8-bit palette, 32-bit top-down and 24-bit pictures exactly', () => {
    // 3x2, 8-bit palette: red, green, blue / white, black, red (bottom-up rows, 4-byte aligned).
    const pal = Buffer.alloc(54 + 4 * 256 + 4 * 2);
    pal.write('BM', 0, 'latin1');
    pal.writeUInt32LE(54 + 1024, 10);
    pal.writeUInt32LE(40, 14);
    pal.writeInt32LE(3, 18);
    pal.writeInt32LE(2, 22);
    pal.writeUInt16LE(8, 28);
    const colours = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [255, 255, 255],
      [0, 0, 0],
    ];
    colours.forEach(([r, g, b], i) => {
      pal[54 + i * 4] = b!;
      pal[54 + i * 4 + 1] = g!;
      pal[54 + i * 4 + 2] = r!;
    });
    const rows = 54 + 1024;
    pal.set([3, 4, 0], rows); // bottom row first
    pal.set([0, 1, 2], rows + 4);
    expect(decodeBmp(u8(pal))).toEqual({
      width: 3,
      height: 2,
      data: new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0]),
    });

    const top = Buffer.alloc(54 + 2 * 4);
    top.write('BM', 0, 'latin1');
    top.writeUInt32LE(54, 10);
    top.writeUInt32LE(40, 14);
    top.writeInt32LE(1, 18);
    top.writeInt32LE(-2, 22);
    top.writeUInt16LE(32, 28);
    top.set([10, 20, 30, 0, 40, 50, 60, 0], 54);
    expect(decodeBmp(u8(top)).data).toEqual(new Uint8Array([30, 20, 10, 60, 50, 40]));

    const rgb = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(decodeBmp(writeBmp24(rgb, 2, 2))).toEqual({ width: 2, height: 2, data: rgb });
  });

  it('refuses RLE-compressed and truncated BMPs', () => {
    const bmp = Buffer.from(writeBmp24(new Uint8Array(12), 2, 2));
    const rle = Buffer.from(bmp);
    rle.writeUInt32LE(1, 30);
    expect(() => decodeBmp(u8(rle))).toThrow(/compressed BMP/);
    expect(() => decodeBmp(u8(bmp.subarray(0, 58)))).toThrow(/truncated/);
  });
});

describe('picture metadata', () => {
  it('reads the EXIF ImageDescription in either byte order', () => {
    const build = (le: boolean, text: string) => {
      const value = Buffer.from(`${text}\0`, 'latin1');
      const buf = Buffer.alloc(6 + 8 + 2 + 12 + 4 + value.length);
      buf.write('Exif\0\0', 0, 'latin1');
      const w16 = (v: number, at: number) => (le ? buf.writeUInt16LE(v, at) : buf.writeUInt16BE(v, at));
      const w32 = (v: number, at: number) => (le ? buf.writeUInt32LE(v, at) : buf.writeUInt32BE(v, at));
      buf.write(le ? 'II' : 'MM', 6, 'latin1');
      w16(42, 8);
      w32(8, 10);
      w16(1, 14);
      w16(0x010e, 16);
      w16(2, 18);
      w32(value.length, 20);
      // Values of up to 4 bytes sit in the entry itself; longer ones after the IFD.
      if (value.length <= 4) value.copy(buf, 24);
      else {
        w32(8 + 2 + 12 + 4, 24);
        value.copy(buf, 6 + 8 + 2 + 12 + 4);
      }
      return u8(buf);
    };
    expect(exifImageDescription(build(true, 'Harbour at dawn'))).toBe('Harbour at dawn');
    expect(exifImageDescription(build(false, 'Harbour at dusk'))).toBe('Harbour at dusk');
    expect(exifImageDescription(build(true, 'abc'))).toBe('abc');
    expect(exifImageDescription(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });

  it('prefers the x-default XMP title and decodes entities', () => {
    const xmp =
      '<dc:title><rdf:Alt><rdf:li xml:lang="de">Hafen</rdf:li><rdf:li xml:lang="x-default">Harbour &lt;3</rdf:li></rdf:Alt></dc:title><dc:description><rdf:Alt><rdf:li>Boats</rdf:li></rdf:Alt></dc:description>';
    expect(xmpField(xmp, 'title')).toBe('Harbour <3');
    expect(xmpField(xmp, 'description')).toBe('Boats');
    expect(xmpField('<x/>', 'title')).toBeUndefined();
  });
});
