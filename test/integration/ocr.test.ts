import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cleanOcrText,
  createTesseractOcr,
  hasReadableText,
  tesseractLangPath,
} from '../../src/enrich/ocr.js';
import { MmragError } from '../../src/errors.js';
import { printedTextSvg, redCircleSvg } from '../helpers/make-pdf.js';

const u8 = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const picture = async (word: string, format: 'png' | 'jpeg' | 'webp' = 'png') =>
  u8(
    await sharp(Buffer.from(printedTextSvg(word, 700, 180, 80)))
      .flatten({ background: '#fff' })
      [format]()
      .toBuffer(),
  );

describe('cleanOcrText', () => {
  it('tidies whitespace, joins hyphenated words and drops noise lines', () => {
    expect(cleanOcrText('  Hello   world \r\n\r\nsecond\tline  \n')).toBe('Hello world\n\nsecond line');
    expect(cleanOcrText('an exam-\nple of hyphenation')).toBe('an example of hyphenation');
    expect(cleanOcrText('Well-\nKnown stays')).toBe('Well-\nKnown stays');
    expect(cleanOcrText('| ~ .\ntext here\n—\n_ _\nmore')).toBe('text here\n\nmore');
    expect(cleanOcrText('one\n\n\n\ntwo\fthree')).toBe('one\n\ntwo\n\nthree');
    expect(cleanOcrText('\n |  \n')).toBe('');
    expect(cleanOcrText('')).toBe('');
  });

  it('hasReadableText counts letters and digits in words of two or more', () => {
    expect(hasReadableText('')).toBe(false);
    expect(hasReadableText('a b c d e')).toBe(false);
    expect(hasReadableText('| ~ . ;')).toBe(false);
    expect(hasReadableText('OK')).toBe(false);
    expect(hasReadableText('Yes')).toBe(true);
    expect(hasReadableText('42 is')).toBe(true);
  });
});

describe('createTesseractOcr', () => {
  const engines: { dispose(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const engine of engines) await engine.dispose();
  });

  it('finds the bundled English model in the installed package', () => {
    const folder = tesseractLangPath('eng');
    expect(folder).toMatch(/@tesseract\.js-data[\\/]eng[\\/]4\.0\.0_best_int$/);
    expect(existsSync(join(folder, 'eng.traineddata.gz'))).toBe(true);
    expect(() => tesseractLangPath('xx-not-installed')).toThrow(MmragError);
  });

  it('reads printed words from PNG, JPEG and WebP offline, writing nothing into the working directory', async () => {
    const cwd = process.cwd();
    const scratch = mkdtempSync(join(tmpdir(), 'mmrag-ocr-cwd-'));
    try {
      process.chdir(scratch);
      const ocr = createTesseractOcr();
      engines.push(ocr);
      const png = await ocr.recognize(await picture('GIRAFFE'));
      expect(png.text).toBe('GIRAFFE');
      expect(png.confidence).toBeGreaterThan(60);
      expect(png.confidence).toBeLessThanOrEqual(100);
      expect((await ocr.recognize(await picture('PELICAN', 'jpeg'))).text).toBe('PELICAN');
      expect((await ocr.recognize(await picture('OCELOT', 'webp'))).text).toBe('OCELOT');
      const blank = await ocr.recognize(
        u8(
          await sharp(Buffer.from(redCircleSvg(200)))
            .png()
            .toBuffer(),
        ),
      );
      expect(hasReadableText(blank.text)).toBe(false);
      expect(readdirSync(scratch)).toEqual([]);
      expect(readdirSync(cwd).filter((f) => f.includes('traineddata'))).toEqual([]);
    } finally {
      process.chdir(cwd);
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('runs two workers through a scheduler', async () => {
    const ocr = createTesseractOcr({ workers: 2 });
    engines.push(ocr);
    const words = ['MAGPIE', 'BEAVER', 'FALCON', 'TURTLE'];
    const results = await Promise.all(words.map(async (w) => (await ocr.recognize(await picture(w))).text));
    expect(results).toEqual(words);
  });

  it('fails clearly on bytes that are no picture, and after dispose', async () => {
    const ocr = createTesseractOcr();
    const err = await ocr.recognize(new TextEncoder().encode('not a picture')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmragError);
    expect((err as MmragError).message).toMatch(/cannot read picture for OCR/);
    await ocr.dispose();
    await expect(ocr.recognize(await picture('LATE'))).rejects.toThrow(/disposed/);
  });

  it('honours an aborted signal', async () => {
    const ocr = createTesseractOcr();
    engines.push(ocr);
    const controller = new AbortController();
    controller.abort();
    await expect(ocr.recognize(await picture('NEVER'), controller.signal)).rejects.toThrow();
  });
});
