/**
 * A tiny PDF writer for tests: valid PDF 1.4 files built by hand (objects, xref table, trailer),
 * with text in Helvetica and raw pictures as FlateDecode image XObjects.
 */
import { deflateSync } from 'node:zlib';

/** Raw 8-bit pixels: 1 channel (gray) or 3 (RGB), row after row. */
export interface RawPixels {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** A baseline JPEG stored as it is (DCTDecode), as most PDFs hold photos. */
export interface JpegPicture {
  jpeg: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

export interface PdfImagePlacement {
  pixels: RawPixels | JpegPicture;
  /** Where the picture goes on the page, in points from the bottom-left corner. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PdfPageSpec {
  /** Lines of text, drawn top-down in 12 pt Helvetica. */
  lines?: string[];
  images?: PdfImagePlacement[];
}

export interface PdfSpec {
  pages: PdfPageSpec[];
  /** The document information Title. */
  title?: string;
  /**
   * Add a standard security handler whose password check fails for the empty password,
   * so a reader asks for a password (the content itself is not really encrypted).
   */
  passwordProtected?: boolean;
}

const PAGE_WIDTH = 612;
const PAGE_HEIGHT = 792;

/** PDF literal string: backslash, parentheses escaped; non-ASCII replaced. */
export function pdfString(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, '?');
  return `(${ascii.replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

function textContent(lines: string[]): string {
  if (lines.length === 0) return '';
  const ops = ['BT', '/F1 12 Tf', '14 TL', `72 ${PAGE_HEIGHT - 72} Td`];
  for (const line of lines) ops.push(`${pdfString(line)} Tj`, 'T*');
  ops.push('ET');
  return ops.join('\n');
}

/** Build a PDF file from page descriptions. */
export function makePdf(spec: PdfSpec): Uint8Array {
  const objects: Buffer[] = [];
  /** Reserve an object number; its body is filled in later. */
  const reserve = (): number => {
    objects.push(Buffer.alloc(0));
    return objects.length;
  };
  const set = (num: number, body: string | Buffer): void => {
    objects[num - 1] = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  };
  const stream = (dict: string, data: Buffer): Buffer =>
    Buffer.concat([
      Buffer.from(`<< ${dict} /Length ${data.length} >>\nstream\n`, 'latin1'),
      data,
      Buffer.from('\nendstream', 'latin1'),
    ]);

  const catalog = reserve();
  const pagesNum = reserve();
  const font = reserve();
  set(font, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');

  const pageNums: number[] = [];
  for (const page of spec.pages) {
    const pageNum = reserve();
    pageNums.push(pageNum);
    const xobjects: string[] = [];
    const drawOps: string[] = [];
    (page.images ?? []).forEach((placement, i) => {
      const { pixels } = placement;
      const colorSpace = pixels.channels === 3 ? '/DeviceRGB' : '/DeviceGray';
      const dict = `/Type /XObject /Subtype /Image /Width ${pixels.width} /Height ${pixels.height} /ColorSpace ${colorSpace} /BitsPerComponent 8`;
      const imageNum = reserve();
      if ('jpeg' in pixels) {
        set(imageNum, stream(`${dict} /Filter /DCTDecode`, Buffer.from(pixels.jpeg)));
      } else {
        if (pixels.data.length !== pixels.width * pixels.height * pixels.channels) {
          throw new Error(
            `image ${i}: data length does not match ${pixels.width}x${pixels.height}x${pixels.channels}`,
          );
        }
        set(imageNum, stream(`${dict} /Filter /FlateDecode`, deflateSync(Buffer.from(pixels.data))));
      }
      xobjects.push(`/Im${i + 1} ${imageNum} 0 R`);
      drawOps.push(
        `q ${placement.width} 0 0 ${placement.height} ${placement.x} ${placement.y} cm /Im${i + 1} Do Q`,
      );
    });
    const content = [textContent(page.lines ?? []), ...drawOps].filter((s) => s !== '').join('\n');
    const contentNum = reserve();
    set(contentNum, stream('/Filter /FlateDecode', deflateSync(Buffer.from(content, 'latin1'))));
    const resources = `<< /Font << /F1 ${font} 0 R >>${xobjects.length ? ` /XObject << ${xobjects.join(' ')} >>` : ''} >>`;
    set(
      pageNum,
      `<< /Type /Page /Parent ${pagesNum} 0 R /MediaBox [0 0 ${PAGE_WIDTH} ${PAGE_HEIGHT}] /Resources ${resources} /Contents ${contentNum} 0 R >>`,
    );
  }
  set(
    pagesNum,
    `<< /Type /Pages /Kids [${pageNums.map((n) => `${n} 0 R`).join(' ')}] /Count ${pageNums.length} >>`,
  );
  set(catalog, `<< /Type /Catalog /Pages ${pagesNum} 0 R >>`);

  let info: number | undefined;
  if (spec.title !== undefined) {
    info = reserve();
    set(info, `<< /Title ${pdfString(spec.title)} /Producer (mmrag test helper) >>`);
  }
  let encrypt: number | undefined;
  if (spec.passwordProtected) {
    encrypt = reserve();
    // Arbitrary /O and /U: no password (not even the empty one) validates against them.
    const o = 'a'.repeat(64);
    const u = 'b'.repeat(64);
    set(encrypt, `<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <${o}> /U <${u}> >>`);
  }

  const chunks: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let offset = chunks[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(offset);
    const obj = Buffer.concat([
      Buffer.from(`${i + 1} 0 obj\n`, 'latin1'),
      body,
      Buffer.from('\nendobj\n', 'latin1'),
    ]);
    chunks.push(obj);
    offset += obj.length;
  });
  const xref = [`xref\n0 ${objects.length + 1}\n`, '0000000000 65535 f \n'];
  for (const o of offsets) xref.push(`${String(o).padStart(10, '0')} 00000 n \n`);
  const trailerParts = [`/Size ${objects.length + 1}`, `/Root ${catalog} 0 R`];
  if (info !== undefined) trailerParts.push(`/Info ${info} 0 R`);
  if (encrypt !== undefined) {
    trailerParts.push(
      `/Encrypt ${encrypt} 0 R`,
      '/ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]',
    );
  }
  chunks.push(
    Buffer.from(
      `${xref.join('')}trailer\n<< ${trailerParts.join(' ')} >>\nstartxref\n${offset}\n%%EOF\n`,
      'latin1',
    ),
  );
  const out = Buffer.concat(chunks);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Raw pixels of an SVG rendered by sharp (flattened on white). */
export async function svgToPixels(svg: string, channels: 1 | 3 = 3): Promise<RawPixels> {
  const { default: sharp } = await import('sharp');
  let pipeline = sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).removeAlpha();
  if (channels === 1) pipeline = pipeline.grayscale();
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== channels) throw new Error(`expected ${channels} channels, got ${info.channels}`);
  return { width: info.width, height: info.height, channels, data: new Uint8Array(data) };
}

/** An SVG of one or more words printed large in black on white, for OCR. */
export function printedTextSvg(text: string, width = 900, height = 200, fontSize = 72): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/><text x="30" y="${Math.round(height / 2 + fontSize / 3)}" font-family="DejaVu Sans" font-size="${fontSize}" fill="black">${escaped}</text></svg>`;
}

/** An SVG of a red disc on white. */
export function redCircleSvg(size = 128): string {
  const r = Math.round(size * 0.4);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="white"/><circle cx="${size / 2}" cy="${size / 2}" r="${r}" fill="red"/></svg>`;
}
