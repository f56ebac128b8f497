import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MmragError } from '../errors.js';
import type { OcrEngine, OcrWord } from './types.js';

export interface TesseractOcrOptions {
  /** Tesseract language codes; only `eng` ships with mmrag. */
  langs?: string[];
  /** Tesseract workers (each a thread with its own copy of the model); 1 or 2 make sense on a laptop. */
  workers?: number;
}

/** What tesseract is asked for: the text, and the words with their boxes (TSV: small, unlike the block tree). */
const OUTPUT = { text: true, tsv: true };

/** Pictures whose longer side exceeds this are shrunk before OCR (slower and no better beyond it). */
const MAX_OCR_SIDE = 4096;

/**
 * Tidy OCR output: unify line ends, join words hyphenated across lines, collapse runs of spaces,
 * drop lines with no letter or digit (rules, speckles read as `|`, `~`, `.`), keep paragraph breaks.
 */
export function cleanOcrText(text: string): string {
  const lines = text
    .replace(/\r\n?/g, '\n')
    .replace(/\f/g, '\n\n')
    .replace(/(\p{L})-\n[ \t]*(\p{Ll})/gu, '$1$2')
    .split('\n')
    .map((line) => line.replace(/[ \t\u00a0]+/g, ' ').trim());
  const out: string[] = [];
  let blank = false;
  for (const line of lines) {
    if (!/[\p{L}\p{N}]/u.test(line)) {
      blank = out.length > 0;
      continue;
    }
    if (blank) out.push('');
    out.push(line);
    blank = false;
  }
  return out.join('\n');
}

/** True when OCR text holds at least `minChars` letters or digits in words of two or more characters. */
export function hasReadableText(text: string, minChars = 3): boolean {
  let count = 0;
  for (const word of text.match(/[\p{L}\p{N}]{2,}/gu) ?? []) count += word.length;
  return count >= minChars;
}

/** The folder inside `@tesseract.js-data/<lang>` that holds `<lang>.traineddata.gz` (LSTM, integer). */
export function tesseractLangPath(lang = 'eng'): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve(`@tesseract.js-data/${lang}/package.json`);
  } catch {
    throw new MmragError(
      `OCR language data for "${lang}" is not installed`,
      `Install @tesseract.js-data/${lang}, or turn OCR off.`,
      'ocr_unavailable',
    );
  }
  return join(dirname(pkg), '4.0.0_best_int');
}

/**
 * Bytes tesseract reads well: PNG and BMP as they are (unless huge); everything else (JPEG with its EXIF
 * orientation, WebP, GIF's first frame, TIFF, ...) rotated upright and re-encoded as PNG with sharp.
 */
async function toOcrInput(image: Uint8Array): Promise<Buffer> {
  const isBmp = image.length >= 2 && image[0] === 0x42 && image[1] === 0x4d;
  if (isBmp) return Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  const { default: sharp } = await import('sharp');
  const meta = await sharp(image, { pages: 1 }).metadata();
  const upright = (meta.orientation ?? 1) === 1;
  const small = Math.max(meta.width ?? 0, meta.height ?? 0) <= MAX_OCR_SIDE;
  if (meta.format === 'png' && upright && small)
    return Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  return sharp(image, { pages: 1 })
    .rotate()
    .resize({ width: MAX_OCR_SIDE, height: MAX_OCR_SIDE, fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

interface RecognizeData {
  text: string;
  confidence: number;
  /** Tesseract's TSV: one row per page, block, paragraph, line and word (level 5), with its box in pixels. */
  tsv?: string | null;
}

/** Width and height of a PNG or BMP (what `toOcrInput` hands tesseract), from its header. */
export function pictureSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isPng = bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e;
  if (isPng) return { width: view.getUint32(16), height: view.getUint32(20) };
  const isBmp = bytes.length >= 26 && bytes[0] === 0x42 && bytes[1] === 0x4d;
  if (isBmp) return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
  return undefined;
}

/** The words of tesseract's TSV output (level 5 rows with text), each box as fractions of a `width` x `height` picture. */
export function wordsFromTsv(tsv: string, width: number, height: number): OcrWord[] {
  const words: OcrWord[] = [];
  if (!(width > 0) || !(height > 0)) return words;
  for (const row of tsv.split('\n')) {
    const cells = row.split('\t');
    if (cells.length < 12 || cells[0] !== '5') continue;
    const text = cells.slice(11).join('\t').trim();
    const [left, top, w, h] = cells.slice(6, 10).map(Number) as [number, number, number, number];
    if (text === '' || ![left, top, w, h].every(Number.isFinite)) continue;
    words.push({ text, box: [left / width, top / height, (left + w) / width, (top + h) / height] });
  }
  return words;
}

/** What either one worker or a scheduler over several offers. */
interface Recognizer {
  recognize(image: Buffer): Promise<RecognizeData>;
  terminate(): Promise<unknown>;
}

/**
 * OCR with tesseract.js and the English model bundled in `@tesseract.js-data/eng`, fully offline: the model
 * is read from the installed package, never downloaded, never cached into the working directory.
 * The worker starts on first use and is reused; `confidence` is tesseract's mean word confidence, 0 to 100.
 */
export function createTesseractOcr(opts: TesseractOcrOptions = {}): OcrEngine {
  const langs = opts.langs && opts.langs.length > 0 ? opts.langs : ['eng'];
  const workerCount = Math.max(1, Math.min(8, Math.floor(opts.workers ?? 1)));
  let recognizer: Promise<Recognizer> | undefined;
  let disposed = false;

  const start = async (): Promise<Recognizer> => {
    const langPaths = new Set(langs.map((lang) => tesseractLangPath(lang)));
    if (langPaths.size > 1) {
      throw new MmragError(
        `OCR languages ${langs.join(', ')} are installed in different folders`,
        'Use languages from one @tesseract.js-data release.',
        'ocr_unavailable',
      );
    }
    const [langPath] = langPaths;
    const { default: Tesseract } = await import('tesseract.js');
    const options = {
      langPath,
      gzip: true,
      cacheMethod: 'none',
      // Not used with cacheMethod 'none'; set anyway so nothing could ever land in the cwd.
      cachePath: langPath,
      // Silence tesseract's console output; errors still reject the calling promise.
      logger: () => {},
      errorHandler: () => {},
    };
    const make = async () => {
      const worker = await Tesseract.createWorker(langs, Tesseract.OEM.LSTM_ONLY, options);
      // Pictures rarely carry a resolution; without one tesseract guesses and prints a warning to stderr.
      await worker.setParameters({ user_defined_dpi: '300' });
      return worker;
    };
    try {
      if (workerCount === 1) {
        const worker = await make();
        return {
          recognize: async (image) => (await worker.recognize(image, {}, OUTPUT)).data,
          terminate: () => worker.terminate(),
        };
      }
      const scheduler = Tesseract.createScheduler();
      const workers = await Promise.all(Array.from({ length: workerCount }, make));
      for (const worker of workers) scheduler.addWorker(worker);
      return {
        recognize: async (image) => (await scheduler.addJob('recognize', image, {}, OUTPUT)).data,
        terminate: () => scheduler.terminate(),
      };
    } catch (err) {
      throw new MmragError(
        `cannot start OCR: ${err instanceof Error ? err.message : String(err)}`,
        'Check that tesseract.js and @tesseract.js-data/eng are installed, or turn OCR off.',
        'ocr_unavailable',
        { cause: err },
      );
    }
  };

  return {
    async recognize(image, signal) {
      if (disposed) throw new MmragError('OCR engine was disposed', undefined, 'ocr_unavailable');
      signal?.throwIfAborted();
      const input = await toOcrInput(image).catch((err: unknown) => {
        throw new MmragError(
          `cannot read picture for OCR: ${err instanceof Error ? err.message : String(err)}`,
          undefined,
          'bad_image',
        );
      });
      if (!recognizer) {
        const starting = start();
        recognizer = starting;
        // A failed start is retried on the next call rather than cached forever.
        starting.catch(() => {
          if (recognizer === starting) recognizer = undefined;
        });
      }
      const data = await (await recognizer).recognize(input);
      signal?.throwIfAborted();
      const size = pictureSize(input);
      return {
        text: cleanOcrText(data.text ?? ''),
        confidence: Number.isFinite(data.confidence) ? data.confidence : 0,
        ...(data.tsv && size ? { words: wordsFromTsv(data.tsv, size.width, size.height) } : {}),
      };
    },
    async dispose() {
      disposed = true;
      const pending = recognizer;
      recognizer = undefined;
      if (pending) await (await pending.catch(() => undefined))?.terminate();
    },
  };
}
