import { inflateSync } from 'node:zlib';
import { MmragError } from '../errors.js';
import { formatBytes } from './zip.js';

export interface PdfStreamLimits {
  /** Inflated bytes of one stream that is not a picture (content streams, fonts, object streams). */
  maxPartBytes: number;
  /** Width x height of one picture. */
  maxImagePixels: number;
}

/** A picture stream of a PDF that is over the pixel limit (pdf.js leaves it out without decoding it). */
export interface OversizedPicture {
  width: number;
  height: number;
}

/** How far before a `stream` keyword its dictionary is looked for. */
const DICTIONARY_REACH = 64 * 1024;

/**
 * Check the streams of a PDF before pdf.js reads it. pdf.js inflates a content stream whole into one growing buffer
 * (outside the JavaScript heap) and then turns it into operators, so a 584 KB file whose page inflates to 600 MB
 * took 3.5 GB; here every Flate stream that is not a picture is inflated once, with its output capped at
 * `maxPartBytes`, and the file is refused when one goes past it. Pictures are not inflated: their size is read
 * from their dictionary, and those over `maxImagePixels` are returned (pdf.js is told the same limit and skips
 * them without decoding).
 *
 * The scan reads the file as bytes: `stream` ... `endstream` with the dictionary before it, which is how every
 * stream is stored (streams never live inside object streams). What it cannot read (encrypted or damaged data) is
 * left to pdf.js.
 */
export function checkPdfStreams(
  bytes: Uint8Array,
  limits: PdfStreamLimits,
  file: string,
): OversizedPicture[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const oversized: OversizedPicture[] = [];
  let from = 0;
  for (;;) {
    const at = buf.indexOf('stream', from, 'latin1');
    if (at < 0) break;
    from = at + 6;
    if (at >= 3 && buf.toString('latin1', at - 3, at) === 'end') continue;
    let start = at + 6;
    if (buf[start] === 0x0d) start++;
    if (buf[start] === 0x0a) start++;
    else if (buf[start - 1] !== 0x0d) continue; // not the keyword (a word inside some text)
    const objectStart = buf.lastIndexOf('obj', at, 'latin1');
    const dictionary = buf.toString(
      'latin1',
      objectStart >= 0 && at - objectStart < DICTIONARY_REACH ? objectStart : Math.max(0, at - 4096),
      at,
    );
    const endAt = buf.indexOf('endstream', start, 'latin1');
    const end = endAt < 0 ? buf.length : endAt;
    from = Math.max(from, end);
    if (/\/Subtype\s*\/Image\b/.test(dictionary)) {
      const width = Number(/\/Width\s+(\d+)/.exec(dictionary)?.[1] ?? 0);
      const height = Number(/\/Height\s+(\d+)/.exec(dictionary)?.[1] ?? 0);
      if (width * height > limits.maxImagePixels) oversized.push({ width, height });
      continue;
    }
    if (!/\/Filter\s*(\[\s*)?\/FlateDecode\b/.test(dictionary)) continue;
    try {
      inflateSync(buf.subarray(start, end), { maxOutputLength: limits.maxPartBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new MmragError(
          `${file}: refused: a stream of the PDF inflates past ${formatBytes(limits.maxPartBytes)} (ingest.maxPartBytes; a PDF bomb?)`,
          'Raise ingest.maxPartBytes if the file is genuine.',
          'too_large',
        );
      }
      // Damaged or encrypted data: pdf.js reports (or repairs) it.
    }
  }
  return oversized;
}
