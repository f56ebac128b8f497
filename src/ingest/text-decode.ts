/**
 * Turning the bytes of a text file into a string without knowing its encoding in advance.
 *
 * Order of decisions: a byte-order mark (UTF-8, UTF-16LE, UTF-16BE) wins; otherwise UTF-16 without a BOM
 * is recognised by its NUL-byte pattern (ASCII text in UTF-16 has a NUL in every other byte); otherwise
 * the bytes are UTF-8 if they are valid UTF-8; otherwise windows-1252 (the superset of Latin-1 that
 * Windows and most "ANSI" files use). The BOM is removed and line ends are normalised to `\n`.
 */

import { MmragError } from '../errors.js';

export interface DecodedText {
  text: string;
  /** WHATWG encoding name: `utf-8`, `utf-16le`, `utf-16be` or `windows-1252`. */
  encoding: string;
}

/** How many leading bytes the sniffing heuristics look at. */
const SNIFF_BYTES = 8192;

type Utf16 = 'utf-16le' | 'utf-16be';

function bomEncoding(bytes: Uint8Array): { encoding: string; length: number } | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return { encoding: 'utf-8', length: 3 };
  }
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return undefined;
}

/**
 * UTF-16 without a BOM: in the first 8 KB, at least 30% of the byte pairs have a NUL on one side and
 * almost none (under 5%) on the other side. Text in Latin scripts always matches; binary data, whose NULs
 * fall on both sides, does not.
 */
function sniffUtf16(bytes: Uint8Array): Utf16 | undefined {
  const end = Math.min(bytes.length, SNIFF_BYTES) & ~1;
  const pairs = end / 2;
  if (pairs < 1) return undefined;
  let evenNuls = 0;
  let oddNuls = 0;
  for (let i = 0; i < end; i += 2) {
    if (bytes[i] === 0) evenNuls++;
    if (bytes[i + 1] === 0) oddNuls++;
  }
  if (oddNuls >= pairs * 0.3 && evenNuls < pairs * 0.05) return 'utf-16le';
  if (evenNuls >= pairs * 0.3 && oddNuls < pairs * 0.05) return 'utf-16be';
  return undefined;
}

/** `\r\n` and lone `\r` (old Mac files) become `\n`. */
export function normaliseLineEnds(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/**
 * windows-1252 bytes 0x80-0x9F (typographic quotes, dashes, the euro sign...); undefined slots stay the
 * C1 control they are in Latin-1, as the WHATWG encoding standard says.
 */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d,
  0x017d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
  0x0153, 0x9d, 0x017e, 0x0178,
];

/**
 * windows-1252 decoded by hand: Node's `TextDecoder('windows-1252')` decodes plain Latin-1 (0x80 stays
 * U+0080 instead of the euro sign).
 */
export function decodeWindows1252(bytes: Uint8Array): string {
  // Buffer's latin1 maps every byte to the same code point; then fix up 0x80-0x9F.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('latin1')
    .replace(/[\u0080-\u009f]/g, (ch) => String.fromCharCode(CP1252_HIGH[ch.charCodeAt(0) - 0x80]!));
}

/** Decode a text file's bytes, guessing the encoding (see the module comment for the order). */
export function decodeText(bytes: Uint8Array): DecodedText {
  const bom = bomEncoding(bytes);
  if (bom) {
    const text = new TextDecoder(bom.encoding).decode(bytes.subarray(bom.length));
    return { text: normaliseLineEnds(text), encoding: bom.encoding };
  }
  const utf16 = sniffUtf16(bytes);
  if (utf16) return { text: normaliseLineEnds(new TextDecoder(utf16).decode(bytes)), encoding: utf16 };
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return { text: normaliseLineEnds(text), encoding: 'utf-8' };
  } catch {
    return { text: normaliseLineEnds(decodeWindows1252(bytes)), encoding: 'windows-1252' };
  }
}

/**
 * True when the bytes are not text. UTF-16 (by BOM or NUL pattern) is judged on its decoded characters,
 * everything else on its bytes, over the first 8 KB: any NUL (as git decides), or more than 10% control
 * characters other than tab, line feed, vertical tab, form feed, carriage return and escape. Empty input is
 * text.
 */
export function looksBinary(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, SNIFF_BYTES);
  const bom = bomEncoding(head);
  const utf16 = bom?.encoding.startsWith('utf-16') ? (bom.encoding as Utf16) : sniffUtf16(head);
  if (utf16) {
    const text = new TextDecoder(utf16).decode(head.subarray(bom ? 2 : 0));
    const codes = Array.from(text, (ch) => ch.charCodeAt(0));
    return tooManyControls(codes, codes.length);
  }
  return tooManyControls(head, head.length);
}

function tooManyControls(codes: ArrayLike<number>, length: number): boolean {
  if (length === 0) return false;
  let control = 0;
  for (let i = 0; i < length; i++) {
    const c = codes[i]!;
    if (c === 0) return true;
    if ((c < 0x20 && !(c >= 0x09 && c <= 0x0d) && c !== 0x1b) || c === 0x7f) control++;
  }
  return control > length * 0.1;
}

/** Decode a file that should be text, refusing binary data with a message that names the file. */
export function decodeTextFile(bytes: Uint8Array, path: string): DecodedText {
  if (looksBinary(bytes)) {
    throw new MmragError(
      `${path}: the file holds binary data, not text`,
      'Its name says text but its bytes do not: exclude it, or give it the extension of its real type.',
      'binary',
    );
  }
  return decodeText(bytes);
}
