/**
 * Documents drawn from shapes, made by LibreOffice: a flat ODF drawing or presentation (.fodg / .fodp) written here,
 * converted by `soffice --headless --convert-to` into a PDF, a .pptx or an .odp. The figures are vector shapes, not
 * pictures: what a chart or a diagram in a real report is.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A shape, in centimetres from the page's top left. */
export interface DrawnShape {
  kind: 'ellipse' | 'rect' | 'triangle';
  fill: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A line of text in a frame, in centimetres from the page's top left. */
export interface DrawnText {
  text: string;
  x: number;
  y: number;
  width: number;
  height: number;
  /** Points (default 18). */
  size?: number;
}

export interface DrawnPage {
  texts?: DrawnText[];
  shapes?: DrawnShape[];
}

/** True when LibreOffice's `soffice` is on the PATH (tests that need it are skipped without it, and say so). */
export function sofficeAvailable(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, 'soffice')));
}

/** True when poppler's tools (`pdftotext`, `pdfimages`) are on the PATH. */
export function popplerAvailable(): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, 'pdftotext')));
}

const esc = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A flat ODF document (`.fodg` for `drawing`, `.fodp` for `presentation`) with these pages. */
export function flatOdf(kind: 'drawing' | 'presentation', pages: DrawnPage[], title?: string): string {
  const fills = [...new Set(pages.flatMap((p) => (p.shapes ?? []).map((s) => s.fill)))];
  const sizes = [...new Set(pages.flatMap((p) => (p.texts ?? []).map((t) => t.size ?? 18)))];
  const fillStyle = (fill: string) => `fill${fills.indexOf(fill)}`;
  const sizeStyle = (size: number) => `size${sizes.indexOf(size)}`;
  const styles = [
    '<style:style style:name="frame" style:family="graphic"><style:graphic-properties draw:fill="none" draw:stroke="none"/></style:style>',
    ...fills.map(
      (fill) =>
        `<style:style style:name="${fillStyle(fill)}" style:family="graphic"><style:graphic-properties draw:fill="solid" draw:fill-color="${fill}" draw:stroke="none"/></style:style>`,
    ),
    ...sizes.map(
      (size) =>
        `<style:style style:name="${sizeStyle(size)}" style:family="paragraph"><style:text-properties fo:font-size="${size}pt" style:font-name="DejaVu Sans" fo:font-family="'DejaVu Sans'"/></style:style>`,
    ),
  ];
  const cm = (n: number) => `${n}cm`;
  const shape = (s: DrawnShape) => {
    const place = `draw:style-name="${fillStyle(s.fill)}" svg:x="${cm(s.x)}" svg:y="${cm(s.y)}" svg:width="${cm(s.width)}" svg:height="${cm(s.height)}"`;
    if (s.kind === 'ellipse') return `<draw:ellipse ${place}/>`;
    if (s.kind === 'rect') return `<draw:rect ${place}/>`;
    return `<draw:polygon ${place} svg:viewBox="0 0 1000 1000" draw:points="500,0 1000,1000 0,1000"/>`;
  };
  const text = (t: DrawnText) =>
    `<draw:frame draw:style-name="frame" svg:x="${cm(t.x)}" svg:y="${cm(t.y)}" svg:width="${cm(t.width)}" svg:height="${cm(t.height)}"><draw:text-box><text:p text:style-name="${sizeStyle(t.size ?? 18)}">${esc(t.text)}</text:p></draw:text-box></draw:frame>`;
  const body = pages
    .map(
      (page, i) =>
        `<draw:page draw:name="page${i + 1}">${(page.texts ?? []).map(text).join('')}${(page.shapes ?? []).map(shape).join('')}</draw:page>`,
    )
    .join('');
  const mimetype = `application/vnd.oasis.opendocument.${kind === 'drawing' ? 'graphics' : 'presentation'}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" office:version="1.3" office:mimetype="${mimetype}">
<office:meta>${title ? `<dc:title>${esc(title)}</dc:title>` : ''}</office:meta>
<office:automatic-styles>${styles.join('')}</office:automatic-styles>
<office:body><office:${kind}>${body}</office:${kind}></office:body>
</office:document>
`;
}

/**
 * Convert a file with LibreOffice (`format`: `pdf`, `pptx`, `odp`, ...) into `outDir`, with a profile of its own;
 * returns the path of the result.
 */
export function sofficeConvert(file: string, format: string, outDir: string): string {
  const profile = mkdtempSync(join(tmpdir(), 'mmrag-test-soffice-'));
  try {
    execFileSync(
      'soffice',
      [
        '--headless',
        '--norestore',
        `-env:UserInstallation=${pathToFileURL(profile).href}`,
        '--convert-to',
        format,
        '--outdir',
        outDir,
        file,
      ],
      { stdio: 'pipe', timeout: 120_000 },
    );
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
  const out = join(outDir, `${basename(file, extname(file))}.${format.split(':')[0]}`);
  if (!existsSync(out)) throw new Error(`soffice did not convert ${file} to ${format}`);
  return out;
}

/** Write a flat ODF document into `dir` and have LibreOffice convert it; returns the converted file's path. */
export function drawDocument(
  dir: string,
  name: string,
  kind: 'drawing' | 'presentation',
  pages: DrawnPage[],
  format: string,
  title?: string,
): string {
  const source = join(dir, `${name}.${kind === 'drawing' ? 'fodg' : 'fodp'}`);
  writeFileSync(source, flatOdf(kind, pages, title));
  return sofficeConvert(source, format, dir);
}

/** `pdfimages -list`'s rows: the raster pictures a PDF holds (none for a figure drawn as shapes). */
export function pdfImageRows(pdf: string): string[] {
  const out = execFileSync('pdfimages', ['-list', pdf], { encoding: 'utf8' });
  return out
    .split('\n')
    .slice(2)
    .filter((line) => line.trim() !== '');
}

/** A word's place on a PDF page as `pdftotext -bbox` reports it, as fractions of the page, origin top left. */
export function pdftotextWordBoxes(
  pdf: string,
): Array<{ page: number; word: string; box: [number, number, number, number] }> {
  const html = execFileSync('pdftotext', ['-bbox', pdf, '-'], { encoding: 'utf8' });
  const words: Array<{ page: number; word: string; box: [number, number, number, number] }> = [];
  let page = 0;
  let width = 1;
  let height = 1;
  for (const line of html.split('\n')) {
    const pageMatch = /<page width="([\d.]+)" height="([\d.]+)">/.exec(line);
    if (pageMatch) {
      page++;
      width = Number(pageMatch[1]);
      height = Number(pageMatch[2]);
      continue;
    }
    const word = /<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<\/word>/.exec(
      line,
    );
    if (word) {
      words.push({
        page,
        word: word[5]!.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'),
        box: [
          Number(word[1]) / width,
          Number(word[2]) / height,
          Number(word[3]) / width,
          Number(word[4]) / height,
        ],
      });
    }
  }
  return words;
}
