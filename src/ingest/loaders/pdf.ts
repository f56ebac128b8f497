import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import type { PageViewport, PDFDocumentProxy, PDFPageProxy } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { hasReadableText } from '../../enrich/ocr.js';
import { MmragError } from '../../errors.js';
import type { Box, ImageItemDraft, ItemDraft, Location, TextItemDraft } from '../../types.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { checkPdfStreams } from '../pdf-guard.js';
import { alignOcrWords, clampBox, type PlacedChunk, type PlacedText, placeChunks } from '../regions.js';

/** A page whose text layer has fewer non-space characters than this is treated as a scan. */
export const SCANNED_PAGE_MIN_CHARS = 20;
/** Embedded pictures smaller than this on either side (icons, rules, bullets) are skipped. */
export const MIN_EMBEDDED_IMAGE_SIDE = 32;
/** Resolution scanned pages are rendered at, for OCR and for the page picture. */
export const SCAN_RENDER_DPI = 150;
/** Longer side, in pixels, of a page rendered whole as a `page` picture (a page with a text layer). */
export const PAGE_IMAGE_LONG_SIDE = 1024;
/** Characters of a page's text its page picture keeps as its caption (the text form levels 1-2 and BM25 read). */
export const PAGE_CAPTION_MAX_CHARS = 1500;

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');

let pdfjsModule: Promise<PdfJs> | undefined;
function loadPdfJs(): Promise<PdfJs> {
  pdfjsModule ??= import('pdfjs-dist/legacy/build/pdf.mjs');
  return pdfjsModule;
}

/** Folders of pdf.js's own data (fonts, CMaps, colour profiles, wasm decoders), as paths ending in `/`. */
function pdfjsAssetFolders(): Record<'standardFontDataUrl' | 'cMapUrl' | 'iccUrl' | 'wasmUrl', string> {
  const root = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));
  const folder = (name: string) => `${join(root, name)}/`;
  return {
    standardFontDataUrl: folder('standard_fonts'),
    cMapUrl: folder('cmaps'),
    iccUrl: folder('iccs'),
    wasmUrl: folder('wasm'),
  };
}

/** A piece of a page's text layer as pdf.js reports it (marked-content entries have no `str`). */
export interface PdfTextPiece {
  str?: string;
  hasEOL?: boolean;
  /** Text space to user space (font size included): `[a, b, c, d, e, f]`, the baseline's start at `(e, f)`. */
  transform?: number[];
  /** Advance along the baseline, in user space. */
  width?: number;
  height?: number;
  fontName?: string;
}

/** What pdf.js knows of a font of the text layer (`styles`): ascent and descent as fractions of the font size. */
export interface PdfTextStyle {
  ascent?: number;
  descent?: number;
  vertical?: boolean;
}

type Matrix = [number, number, number, number, number, number];

/** `m1` then `m2` applied to a point is `multiply(m2, m1)`: PDF's row-vector convention, as pdf.js's Util.transform. */
function multiply(m1: readonly number[], m2: readonly number[]): Matrix {
  return [
    m1[0]! * m2[0]! + m1[2]! * m2[1]!,
    m1[1]! * m2[0]! + m1[3]! * m2[1]!,
    m1[0]! * m2[2]! + m1[2]! * m2[3]!,
    m1[1]! * m2[2]! + m1[3]! * m2[3]!,
    m1[0]! * m2[4]! + m1[2]! * m2[5]! + m1[4]!,
    m1[1]! * m2[4]! + m1[3]! * m2[5]! + m1[5]!,
  ];
}

function apply(m: readonly number[], x: number, y: number): [number, number] {
  return [m[0]! * x + m[2]! * y + m[4]!, m[1]! * x + m[3]! * y + m[5]!];
}

/** The page as pdf.js draws it at scale 1: user space to a top-left origin, and the page's size in that space. */
export interface PageFrame {
  transform: readonly number[];
  width: number;
  height: number;
}

function frameOf(viewport: Pick<PageViewport, 'transform' | 'width' | 'height'>): PageFrame {
  return { transform: viewport.transform, width: viewport.width, height: viewport.height };
}

/** The box around points of the page frame, as fractions of the page. */
function boxAround(points: Array<[number, number]>, frame: PageFrame): Box | undefined {
  const xs = points.map((p) => p[0] / frame.width);
  const ys = points.map((p) => p[1] / frame.height);
  return clampBox([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]);
}

/**
 * Where a piece of the text layer is on the page, as fractions: from its baseline start and advance, up by the
 * font's ascent and down by its descent (pdf.js's own text layer places its spans the same way). Rotated text gets
 * the box around its rotated rectangle.
 */
export function textPieceBox(
  piece: PdfTextPiece,
  style: PdfTextStyle | undefined,
  frame: PageFrame,
): Box | undefined {
  if (!piece.transform || piece.transform.length < 6 || !(typeof piece.width === 'number')) return undefined;
  const tx = multiply(frame.transform, piece.transform);
  const fontHeight = Math.hypot(tx[2], tx[3]);
  if (!(fontHeight > 0)) return undefined;
  let angle = Math.atan2(tx[1], tx[0]);
  let advance = piece.width;
  if (style?.vertical) {
    angle += Math.PI / 2;
    advance = piece.height ?? 0;
  }
  // Device space of the frame: x to the right, y down. Along the baseline, and "up" from it.
  const scale = Math.hypot(frame.transform[0]!, frame.transform[1]!) || 1;
  const along: [number, number] = [Math.cos(angle), Math.sin(angle)];
  const up: [number, number] = [Math.sin(angle), -Math.cos(angle)];
  const ascent = style?.ascent !== undefined && style.ascent > 0 ? style.ascent : 0.8;
  const descent = style?.descent !== undefined && style.descent < 0 ? style.descent : -0.2;
  const length = advance * scale;
  const corner = (a: number, u: number): [number, number] => [
    tx[4] + along[0] * a + up[0] * u * fontHeight,
    tx[5] + along[1] * a + up[1] * u * fontHeight,
  ];
  return boxAround(
    [corner(0, descent), corner(length, descent), corner(0, ascent), corner(length, ascent)],
    frame,
  );
}

/** The text layer as placed pieces (boxes as fractions of the page), in the order `joinTextPieces` joins them. */
export function placeTextPieces(
  pieces: readonly PdfTextPiece[],
  styles: Record<string, PdfTextStyle>,
  frame: PageFrame,
): PlacedText[] {
  const placed: PlacedText[] = [];
  for (const piece of pieces) {
    if (typeof piece.str !== 'string') continue;
    const box =
      piece.str.trim() === '' ? undefined : textPieceBox(piece, styles[piece.fontName ?? ''], frame);
    placed.push({ text: piece.str, ...(box ? { boxes: [box] } : {}), breakAfter: piece.hasEOL === true });
  }
  return placed;
}

/** The unit square a picture is drawn into, through the transform in force, as fractions of the page. */
export function pictureBox(ctm: readonly number[], frame: PageFrame): Box | undefined {
  const device = multiply(frame.transform, ctm);
  return boxAround(
    [apply(device, 0, 0), apply(device, 1, 0), apply(device, 0, 1), apply(device, 1, 1)],
    frame,
  );
}

/** A page's caption as a `page` picture: its text (the first PAGE_CAPTION_MAX_CHARS, cut at a word), or its name. */
export function pageCaption(text: string, fallback: string): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  if (clean === '') return fallback;
  if (clean.length <= PAGE_CAPTION_MAX_CHARS) return clean;
  const cut = clean.lastIndexOf(' ', PAGE_CAPTION_MAX_CHARS - 1);
  return `${clean.slice(0, cut > PAGE_CAPTION_MAX_CHARS / 2 ? cut : PAGE_CAPTION_MAX_CHARS - 1)}…`;
}

/** The location of a chunk: its page, and its boxes when it has any. */
function chunkLocation(base: Location, chunk: PlacedChunk): Location {
  return chunk.boxes.length > 0 ? { ...base, boxes: chunk.boxes } : { ...base };
}

/** Join a page's text pieces into text, with a line break wherever pdf.js saw the end of a line. */
export function joinTextPieces(pieces: readonly PdfTextPiece[]): string {
  let text = '';
  for (const piece of pieces) {
    if (typeof piece.str !== 'string') continue;
    text += piece.str;
    if (piece.hasEOL) text += '\n';
  }
  return text
    .split('\n')
    .map((line) => line.replace(/[ \t\u00a0]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** True when a page's text layer is too thin to be the page's real text (a scan, or a picture of text). */
export function isScannedPageText(text: string): boolean {
  return text.replace(/\s+/g, '').length < SCANNED_PAGE_MIN_CHARS;
}

/** The render scale for a page of `width` x `height` points: `dpi`, lowered to stay under `maxPixels`. */
export function renderScale(width: number, height: number, dpi: number, maxPixels: number): number {
  const scale = dpi / 72;
  const pixels = width * scale * height * scale;
  if (pixels <= maxPixels || pixels === 0) return scale;
  return scale * Math.sqrt(maxPixels / pixels);
}

/** pdf.js image kinds (`ImageKind`). */
const GRAYSCALE_1BPP = 1;
const RGB_24BPP = 2;
const RGBA_32BPP = 3;

/** Decoded pixels of an embedded picture as pdf.js hands them over. */
export interface PdfImageData {
  width: number;
  height: number;
  kind?: number;
  data?: Uint8Array | Uint8ClampedArray | null;
}

/** Raw 8-bit pixels sharp can encode: 1 (gray), 3 (RGB) or 4 (RGBA) channels. */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/**
 * Turn pdf.js image data into raw 8-bit pixels: 1-bit grayscale rows (padded to whole bytes) expand to
 * 8-bit gray; RGB and RGBA pass through. Undefined when the data is missing or does not fit its size.
 */
export function pdfImageToRawPixels(image: PdfImageData): RawPixels | undefined {
  const { width, height, kind, data } = image;
  if (!data || !(width > 0) || !(height > 0)) return undefined;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (kind === RGBA_32BPP || kind === RGB_24BPP) {
    const channels = kind === RGBA_32BPP ? 4 : 3;
    if (bytes.length < width * height * channels) return undefined;
    return { data: bytes.subarray(0, width * height * channels), width, height, channels };
  }
  if (kind === GRAYSCALE_1BPP) {
    const rowBytes = (width + 7) >> 3;
    if (bytes.length < rowBytes * height) return undefined;
    const gray = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const bit = (bytes[y * rowBytes + (x >> 3)]! >> (7 - (x & 7))) & 1;
        gray[y * width + x] = bit ? 255 : 0;
      }
    }
    return { data: gray, width, height, channels: 1 };
  }
  return undefined;
}

async function rawToPng(pixels: RawPixels): Promise<Uint8Array> {
  const { default: sharp } = await import('sharp');
  const { data, width, height, channels } = pixels;
  const png = await sharp(data, { raw: { width, height, channels } }).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Resolve a page object (`img_p0_1`) or document-wide object (`g_d0_img_p0_1`) once pdf.js has it. */
function getPageObject(page: PDFPageProxy, id: string, timeoutMs = 10_000): Promise<unknown> {
  const objs = id.startsWith('g_') ? page.commonObjs : page.objs;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    objs.get(id, (value: unknown) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

function isPdfImageData(value: unknown): value is PdfImageData {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.width === 'number' && typeof v.height === 'number';
}

/** True when the last KiB of a file holds the `%%EOF` marker every complete PDF ends with. */
export function hasPdfEndMarker(bytes: Uint8Array): boolean {
  const tail = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).subarray(-1024);
  return tail.includes('%%EOF');
}

/** The error pdf.js threw, as a reason a person can read. */
function describePdfError(err: unknown, bytes: Uint8Array): { reason: string; code: string; hint?: string } {
  const name = err instanceof Error ? err.name : '';
  const message = err instanceof Error ? err.message : String(err);
  if (name === 'PasswordException') {
    return {
      reason: 'the PDF is password-protected',
      code: 'encrypted',
      hint: 'Remove the password (e.g. print it to a new PDF) and ingest it again.',
    };
  }
  if (bytes.length === 0) return { reason: 'the file is empty', code: 'bad_file' };
  const isPdf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .subarray(0, 1024)
    .includes('%PDF-');
  if (!isPdf) return { reason: `not a PDF (no %PDF header): ${message}`, code: 'bad_file' };
  if (!hasPdfEndMarker(bytes)) {
    return {
      reason: `the PDF is truncated (no %%EOF marker at its end): ${message}`,
      code: 'bad_file',
      hint: 'The download or copy may be incomplete: fetch the file again.',
    };
  }
  if (name === 'InvalidPDFException') {
    return { reason: `not a valid PDF (${message})`, code: 'bad_file', hint: 'The file may be damaged.' };
  }
  return { reason: `cannot read the PDF: ${message}`, code: 'bad_file', hint: 'The file may be damaged.' };
}

type Fail = (reason: string, code: string, hint?: string, cause?: unknown) => MmragError;

/** Open a PDF with pdf.js under the loader's limits; a file pdf.js cannot open fails with a readable reason. */
async function openPdf(bytes: Uint8Array, ctx: LoaderContext, fail: Fail): Promise<PDFDocumentProxy> {
  const pdfjs = await loadPdfJs();
  const task = pdfjs.getDocument({
    // pdf.js may transfer (detach) the buffer it is given: hand it a copy.
    data: new Uint8Array(bytes),
    verbosity: pdfjs.VerbosityLevel.ERRORS,
    isEvalSupported: false,
    isOffscreenCanvasSupported: false,
    isImageDecoderSupported: false,
    useSystemFonts: false,
    stopAtErrors: false,
    // Pictures over the pixel limit are left out before they are decoded (four 20000x20000 pictures of a 4.7 MB
    // file took 7.3 GB when they were decoded first and refused after).
    maxImageSize: ctx.limits.maxImagePixels,
    ...pdfjsAssetFolders(),
  });
  try {
    return await task.promise;
  } catch (err) {
    await task.destroy().catch(() => {});
    const { reason, code, hint } = describePdfError(err, bytes);
    throw fail(reason, code, hint, err);
  }
}

/** The scale that draws a page of `width` x `height` points with its longer side `longSide` pixels, within `maxPixels`. */
export function pageImageScale(width: number, height: number, longSide: number, maxPixels: number): number {
  const side = Math.max(width, height);
  if (!(side > 0)) return 1;
  return renderScale(width, height, (72 * longSide) / side, maxPixels);
}

/** Draw a page on a white canvas at `scale` and encode it as PNG; undefined (with a warning) when pdf.js cannot. */
async function renderPage(
  page: PDFPageProxy,
  scale: number,
  what: string,
  ctx: LoaderContext,
): Promise<Uint8Array | undefined> {
  try {
    const { createCanvas } = await import('@napi-rs/canvas');
    const viewport = page.getViewport({ scale });
    const canvas = createCanvas(
      Math.max(1, Math.round(viewport.width)),
      Math.max(1, Math.round(viewport.height)),
    );
    const context = canvas.getContext('2d');
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, canvas.width, canvas.height);
    await page.render({
      canvas: canvas as unknown as HTMLCanvasElement,
      canvasContext: context as unknown as CanvasRenderingContext2D,
      viewport,
    }).promise;
    const png = await canvas.encode('png');
    return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
  } catch (err) {
    ctx.warn(`${what}: cannot render: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/** A page's text layer: its text (as `joinTextPieces` joins it) and its pieces placed on the page. */
async function readTextLayer(page: PDFPageProxy): Promise<{ text: string; pieces: PlacedText[] }> {
  const content = await page.getTextContent();
  const raw = content.items as PdfTextPiece[];
  const styles = content.styles as Record<string, PdfTextStyle>;
  return {
    text: joinTextPieces(raw),
    pieces: placeTextPieces(raw, styles, frameOf(page.getViewport({ scale: 1 }))),
  };
}

/** A page rendered whole, as a rendered deck gives it (`renderPdfPages`). */
export interface RenderedPage {
  /** 1-based. */
  n: number;
  png: Uint8Array;
  /** The page's text layer. */
  text: string;
}

/**
 * The first `count` pages of a PDF (a slide deck LibreOffice rendered) drawn as pictures with their text, one page at
 * a time. A page that cannot be drawn is left out with a warning.
 */
export async function renderPdfPages(
  bytes: Uint8Array,
  count: number,
  what: string,
  ctx: LoaderContext,
): Promise<{ pages: RenderedPage[]; total: number }> {
  const fail: Fail = (reason, code, hint, cause) =>
    new MmragError(`${what}: ${reason}`, hint, code, cause === undefined ? undefined : { cause });
  const doc = await openPdf(bytes, ctx, fail);
  try {
    const pages: RenderedPage[] = [];
    for (let n = 1; n <= Math.min(count, doc.numPages); n++) {
      ctx.signal?.throwIfAborted();
      const page = await doc.getPage(n);
      try {
        const base = page.getViewport({ scale: 1 });
        const scale = pageImageScale(
          base.width,
          base.height,
          PAGE_IMAGE_LONG_SIDE,
          ctx.limits.maxImagePixels,
        );
        const png = await renderPage(page, scale, `${what}, page ${n}`, ctx);
        if (png) pages.push({ n, png, text: (await readTextLayer(page)).text });
      } finally {
        page.cleanup();
      }
    }
    return { pages, total: doc.numPages };
  } finally {
    await doc.destroy().catch(() => {});
  }
}

/**
 * PDF files: per page, the text layer chunked into text items, each with the boxes of its lines; embedded pictures
 * as image items with their box; the page itself rendered to a picture, a `page` item (the first
 * `limits.maxPageImages` pages), so that figures drawn as vectors can be found too; pages without a text layer
 * (scans) rendered, kept as their `page` item and OCR'd when OCR is on (the text read carries the words' boxes).
 * Every item carries `location: {page}` (1-based). A PDF with more pages than `limits.maxPages` fails as a whole
 * (nothing partial is ingested).
 */
export class PdfLoader implements Loader {
  readonly type = 'pdf' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    const file = input.path;
    const fail: Fail = (reason, code, hint, cause) =>
      new MmragError(`${file}: ${reason}`, hint, code, cause === undefined ? undefined : { cause });

    for (const picture of checkPdfStreams(input.bytes, ctx.limits, file)) {
      ctx.warn(
        `${file}: skipped a ${picture.width}x${picture.height} picture (over the pixel limit of ${ctx.limits.maxImagePixels}, ingest.maxImagePixels)`,
      );
    }
    const doc = await openPdf(input.bytes, ctx, fail);

    try {
      const pageCount = doc.numPages;
      if (pageCount > ctx.limits.maxPages) {
        throw fail(
          `${pageCount} pages, over the limit of ${ctx.limits.maxPages}`,
          'too_large',
          'Raise the maxPages limit if the document is genuine.',
        );
      }
      if (pageCount === 0) throw fail('the PDF has no pages', 'bad_file');
      const title = await this.documentTitle(doc, file);
      const items: ItemDraft[] = [];
      const seenImages = new Set<string>();
      const scannedWithoutOcr: number[] = [];
      for (let n = 1; n <= pageCount; n++) {
        ctx.signal?.throwIfAborted();
        let page: PDFPageProxy;
        try {
          page = await doc.getPage(n);
        } catch (err) {
          const { reason, code, hint } = describePdfError(err, input.bytes);
          throw fail(`page ${n}: ${reason}`, code, hint, err);
        }
        try {
          const pageItems = await this.loadPage(page, n, title, file, ctx, seenImages);
          if (pageItems.scannedWithoutOcr) scannedWithoutOcr.push(n);
          items.push(...pageItems.items);
        } finally {
          page.cleanup();
        }
      }
      if (scannedWithoutOcr.length > 0) {
        ctx.warn(
          `${file}: ${describePages(scannedWithoutOcr)} no text layer and OCR is off; only the page picture was kept`,
        );
      }
      if (pageCount > ctx.limits.maxPageImages && ctx.limits.maxPageImages > 0) {
        ctx.warn(
          `${file}: pages ${ctx.limits.maxPageImages + 1}-${pageCount} were not rendered as page pictures (ingest.maxPageImages is ${ctx.limits.maxPageImages}); their text and embedded pictures were read`,
        );
      }
      return items;
    } catch (err) {
      if (err instanceof MmragError || (err instanceof Error && err.name === 'AbortError')) throw err;
      const { reason, code, hint } = describePdfError(err, input.bytes);
      throw fail(reason, code, hint, err);
    } finally {
      await doc.destroy().catch(() => {});
    }
  }

  private async documentTitle(doc: PDFDocumentProxy, file: string): Promise<string> {
    try {
      const { info } = await doc.getMetadata();
      const title = (info as { Title?: unknown } | undefined)?.Title;
      if (typeof title === 'string' && title.trim() !== '') return title.replace(/\s+/g, ' ').trim();
    } catch {
      // A PDF with unreadable metadata is still readable: fall back to the file name.
    }
    return basename(file);
  }

  private async loadPage(
    page: PDFPageProxy,
    n: number,
    title: string,
    file: string,
    ctx: LoaderContext,
    seenImages: Set<string>,
  ): Promise<{ items: ItemDraft[]; scannedWithoutOcr: boolean }> {
    const section = `Page ${n}`;
    const location = { page: n };
    const textItem = (chunk: PlacedChunk): TextItemDraft => ({
      modality: 'text',
      title,
      section,
      text: chunk.text,
      location: chunkLocation(location, chunk),
    });
    const pagePicture = (png: Uint8Array, caption: string): ImageItemDraft => ({
      modality: 'image',
      kind: 'page',
      title,
      section,
      caption,
      picture: { bytes: png, mime: 'image/png', origin: `${file}#page=${n}` },
      location,
    });
    const { text, pieces } = await readTextLayer(page);

    if (!isScannedPageText(text)) {
      const items: ItemDraft[] = placeChunks(pieces, ctx.chunkSize, ctx.chunkOverlap).map(textItem);
      items.push(...(await this.embeddedImages(page, n, title, file, ctx, seenImages)));
      if (n <= ctx.limits.maxPageImages) {
        const base = page.getViewport({ scale: 1 });
        const scale = pageImageScale(
          base.width,
          base.height,
          PAGE_IMAGE_LONG_SIDE,
          ctx.limits.maxImagePixels,
        );
        const png = await renderPage(page, scale, `${file}: page ${n}`, ctx);
        if (png) items.push(pagePicture(png, pageCaption(text, `Page ${n} of ${title}`)));
      }
      return { items, scannedWithoutOcr: false };
    }

    // A scan: the page picture stands for every picture on the page, so embedded images are not extracted.
    const items: ItemDraft[] = [];
    const base = page.getViewport({ scale: 1 });
    const png = await renderPage(
      page,
      renderScale(base.width, base.height, SCAN_RENDER_DPI, ctx.limits.maxImagePixels),
      `${file}: page ${n}`,
      ctx,
    );
    const picture = png ? pagePicture(png, `Page ${n} (scanned)`) : undefined;
    if (picture) items.push(picture);
    if (ctx.ocr && png) {
      try {
        const read = await ctx.ocr.recognize(png, ctx.signal);
        if (hasReadableText(read.text)) {
          const placed = read.words ? alignOcrWords(read.text, read.words) : [{ text: read.text }];
          items.push(...placeChunks(placed, ctx.chunkSize, ctx.chunkOverlap).map(textItem));
          if (picture) picture.caption = pageCaption(read.text, picture.caption);
        }
      } catch (err) {
        if (err instanceof Error && err.name === 'AbortError') throw err;
        ctx.warn(`${file}: OCR of page ${n} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Whatever thin text layer the page had is kept when OCR found nothing better.
    if (text !== '' && !items.some((item) => item.modality === 'text')) {
      items.push(...placeChunks(pieces, ctx.chunkSize, ctx.chunkOverlap).map(textItem));
    }
    return { items, scannedWithoutOcr: !ctx.ocr };
  }

  private async embeddedImages(
    page: PDFPageProxy,
    n: number,
    title: string,
    file: string,
    ctx: LoaderContext,
    seenImages: Set<string>,
  ): Promise<ImageItemDraft[]> {
    const { OPS } = await loadPdfJs();
    const ops = await page.getOperatorList();
    const frame = frameOf(page.getViewport({ scale: 1 }));
    const found: Array<{ image: PdfImageData; box?: Box }> = [];
    // The transform in force (PDF's `cm`, saved and restored by `q`/`Q`, and set by form XObjects) places each
    // picture: it is drawn into the unit square.
    let ctm: Matrix = [1, 0, 0, 1, 0, 0];
    const saved: Matrix[] = [];
    for (let i = 0; i < ops.fnArray.length; i++) {
      const fn = ops.fnArray[i];
      const args = ops.argsArray[i] as unknown[] | undefined;
      if (fn === OPS.save) saved.push(ctm);
      else if (fn === OPS.restore) ctm = saved.pop() ?? ctm;
      else if (fn === OPS.transform && isMatrix(args)) ctm = multiply(ctm, args);
      else if (fn === OPS.paintFormXObjectBegin) {
        saved.push(ctm);
        if (isMatrix(args?.[0])) ctm = multiply(ctm, args[0]);
      } else if (fn === OPS.paintFormXObjectEnd) ctm = saved.pop() ?? ctm;
      else if (fn === OPS.paintImageXObject || fn === OPS.paintImageXObjectRepeat) {
        const id = args?.[0];
        if (typeof id !== 'string' || seenImages.has(id)) continue;
        seenImages.add(id);
        const image = await getPageObject(page, id);
        // A picture drawn at several places at once has no single box.
        const box = fn === OPS.paintImageXObject ? pictureBox(ctm, frame) : undefined;
        if (isPdfImageData(image)) found.push({ image, ...(box ? { box } : {}) });
      } else if (fn === OPS.paintInlineImageXObject) {
        const image = args?.[0];
        const box = pictureBox(ctm, frame);
        if (isPdfImageData(image)) found.push({ image, ...(box ? { box } : {}) });
      }
    }
    const items: ImageItemDraft[] = [];
    for (const { image, box } of found) {
      if (image.width < MIN_EMBEDDED_IMAGE_SIDE || image.height < MIN_EMBEDDED_IMAGE_SIDE) continue;
      if (image.width * image.height > ctx.limits.maxImagePixels) {
        ctx.warn(
          `${file}: skipped a ${image.width}x${image.height} picture on page ${n} (over the pixel limit)`,
        );
        continue;
      }
      const pixels = pdfImageToRawPixels(image);
      if (!pixels) {
        ctx.warn(`${file}: skipped a picture on page ${n} in a pixel format mmrag does not read`);
        continue;
      }
      const png = await rawToPng(pixels);
      items.push({
        modality: 'image',
        title,
        section: `Page ${n}`,
        caption: `Image on page ${n} of ${title}`,
        picture: { bytes: png, mime: 'image/png', origin: `${file}#page=${n}` },
        location: box ? { page: n, boxes: [box] } : { page: n },
      });
    }
    return items;
  }
}

function isMatrix(value: unknown): value is Matrix {
  return (
    (Array.isArray(value) || ArrayBuffer.isView(value)) &&
    (value as ArrayLike<unknown>).length === 6 &&
    Array.from(value as ArrayLike<unknown>).every((v) => typeof v === 'number' && Number.isFinite(v))
  );
}

function describePages(pages: number[]): string {
  if (pages.length === 1) return `page ${pages[0]} has`;
  const shown = pages.slice(0, 10).join(', ');
  return `pages ${shown}${pages.length > 10 ? ` and ${pages.length - 10} more` : ''} have`;
}
