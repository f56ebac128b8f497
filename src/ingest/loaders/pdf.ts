import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import type { PDFDocumentProxy, PDFPageProxy } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { hasReadableText } from '../../enrich/ocr.js';
import { MmragError } from '../../errors.js';
import type { ImageItemDraft, ItemDraft, TextItemDraft } from '../../types.js';
import { chunkText } from '../chunk.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { checkPdfStreams } from '../pdf-guard.js';

/** A page whose text layer has fewer non-space characters than this is treated as a scan. */
export const SCANNED_PAGE_MIN_CHARS = 20;
/** Embedded pictures smaller than this on either side (icons, rules, bullets) are skipped. */
export const MIN_EMBEDDED_IMAGE_SIDE = 32;
/** Resolution scanned pages are rendered at, for OCR and for the page picture. */
export const SCAN_RENDER_DPI = 150;

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

/**
 * PDF files: per page, the text layer chunked into text items; embedded pictures as image items; pages
 * without a text layer (scans) rendered to a picture, kept as an image item and OCR'd when OCR is on.
 * Every item carries `location: {page}` (1-based). A PDF with more pages than `limits.maxPages` fails
 * as a whole (nothing partial is ingested).
 */
export class PdfLoader implements Loader {
  readonly type = 'pdf' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    const file = input.path;
    const fail = (reason: string, code: string, hint?: string, cause?: unknown): MmragError =>
      new MmragError(`${file}: ${reason}`, hint, code, cause === undefined ? undefined : { cause });

    for (const picture of checkPdfStreams(input.bytes, ctx.limits, file)) {
      ctx.warn(
        `${file}: skipped a ${picture.width}x${picture.height} picture (over the pixel limit of ${ctx.limits.maxImagePixels}, ingest.maxImagePixels)`,
      );
    }
    const pdfjs = await loadPdfJs();
    const task = pdfjs.getDocument({
      // pdf.js may transfer (detach) the buffer it is given: hand it a copy.
      data: new Uint8Array(input.bytes),
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
    let doc: PDFDocumentProxy;
    try {
      doc = await task.promise;
    } catch (err) {
      await task.destroy().catch(() => {});
      const { reason, code, hint } = describePdfError(err, input.bytes);
      throw fail(reason, code, hint, err);
    }

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
    const textItem = (text: string): TextItemDraft => ({ modality: 'text', title, section, text, location });
    const content = await page.getTextContent();
    const text = joinTextPieces(content.items as PdfTextPiece[]);

    if (!isScannedPageText(text)) {
      const items: ItemDraft[] = chunkText(text, ctx.chunkSize, ctx.chunkOverlap).map(textItem);
      items.push(...(await this.embeddedImages(page, n, title, file, ctx, seenImages)));
      return { items, scannedWithoutOcr: false };
    }

    // A scan: the page picture stands for every picture on the page, so embedded images are not extracted.
    const items: ItemDraft[] = [];
    const png = await this.renderPage(page, n, file, ctx);
    if (png) {
      items.push({
        modality: 'image',
        title,
        section,
        caption: `Page ${n} (scanned)`,
        picture: { bytes: png, mime: 'image/png', origin: `${file}#page=${n}` },
        location,
      });
    }
    if (ctx.ocr && png) {
      try {
        const { text: ocrText } = await ctx.ocr.recognize(png, ctx.signal);
        if (hasReadableText(ocrText)) {
          items.push(...chunkText(ocrText, ctx.chunkSize, ctx.chunkOverlap).map(textItem));
        }
      } catch (err) {
        if (err instanceof Error && err.name === 'AbortError') throw err;
        ctx.warn(`${file}: OCR of page ${n} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Whatever thin text layer the page had is kept when OCR found nothing better.
    if (text !== '' && !items.some((item) => item.modality === 'text')) items.push(textItem(text));
    return { items, scannedWithoutOcr: !ctx.ocr };
  }

  private async renderPage(
    page: PDFPageProxy,
    n: number,
    file: string,
    ctx: LoaderContext,
  ): Promise<Uint8Array | undefined> {
    try {
      const { createCanvas } = await import('@napi-rs/canvas');
      const base = page.getViewport({ scale: 1 });
      const scale = renderScale(base.width, base.height, SCAN_RENDER_DPI, ctx.limits.maxImagePixels);
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
      ctx.warn(`${file}: cannot render page ${n}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
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
    const found: PdfImageData[] = [];
    for (let i = 0; i < ops.fnArray.length; i++) {
      const fn = ops.fnArray[i];
      const args = ops.argsArray[i] as unknown[] | undefined;
      if (fn === OPS.paintImageXObject || fn === OPS.paintImageXObjectRepeat) {
        const id = args?.[0];
        if (typeof id !== 'string' || seenImages.has(id)) continue;
        seenImages.add(id);
        const image = await getPageObject(page, id);
        if (isPdfImageData(image)) found.push(image);
      } else if (fn === OPS.paintInlineImageXObject) {
        const image = args?.[0];
        if (isPdfImageData(image)) found.push(image);
      }
    }
    const items: ImageItemDraft[] = [];
    for (const image of found) {
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
        location: { page: n },
      });
    }
    return items;
  }
}

function describePages(pages: number[]): string {
  if (pages.length === 1) return `page ${pages[0]} has`;
  const shown = pages.slice(0, 10).join(', ');
  return `pages ${shown}${pages.length > 10 ? ` and ${pages.length - 10} more` : ''} have`;
}
