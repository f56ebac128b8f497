import { extname } from 'node:path';
import { sniffImageMime } from '../media/image-decode.js';
import type { SourceType } from '../types.js';
import { LOADERS, LoaderRegistry } from './registry.js';

export type Detection = { type: SourceType } | { unsupported: string } | { mismatch: string };

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

function includesAscii(bytes: Uint8Array, needle: string): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(needle, 0, 'latin1');
}

/** What the bytes say the file is, regardless of its name (undefined: no known signature). */
export function sniffType(bytes: Uint8Array): SourceType | 'zip' | undefined {
  if (bytes.length >= 5 && ascii(bytes, 0, 5) === '%PDF-') return 'pdf';
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    if (ascii(bytes, 30, 8) === 'mimetype') {
      const mime = ascii(bytes, 38, 60);
      if (mime.includes('opendocument.text')) return 'docx';
      if (mime.includes('opendocument.presentation')) return 'pptx';
      if (mime.includes('opendocument.spreadsheet')) return 'xlsx';
    }
    if (includesAscii(bytes, 'word/')) return 'docx';
    if (includesAscii(bytes, 'ppt/')) return 'pptx';
    if (includesAscii(bytes, 'xl/')) return 'xlsx';
    return 'zip';
  }
  const image = sniffImageMime(bytes);
  if (image) return 'image';
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF') {
    const kind = ascii(bytes, 8, 4);
    if (kind === 'WAVE') return 'audio';
    if (kind === 'AVI ') return 'video';
  }
  if (bytes.length >= 4 && (ascii(bytes, 0, 4) === 'fLaC' || ascii(bytes, 0, 3) === 'ID3')) return 'audio';
  // A UTF-16 byte order mark: FF FE would otherwise pass for an MP3 frame sync.
  if (
    bytes.length >= 2 &&
    ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
  )
    return undefined;
  if (bytes.length >= 2 && bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0) return 'audio';
  if (bytes.length >= 4 && ascii(bytes, 0, 4) === 'OggS') return 'audio';
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3)
    return 'video';
  if (bytes.length >= 12 && ascii(bytes, 4, 4) === 'ftyp') {
    const brand = ascii(bytes, 8, 4);
    return brand.startsWith('M4A') || brand.startsWith('M4B') ? 'audio' : 'video';
  }
  const head = new TextDecoder().decode(bytes.subarray(0, 1024)).trimStart().toLowerCase();
  if (head.startsWith('<!doctype html') || head.startsWith('<html')) return 'html';
  if (head.startsWith('webvtt')) return 'subtitles';
  return undefined;
}

const DEFAULT_REGISTRY = new LoaderRegistry(LOADERS);

/**
 * The file's type from its content first and its name second. A name that promises a binary format the bytes do
 * not have (a `.docx` that is not a zip) is a mismatch, reported rather than guessed around.
 */
export function detectType(
  path: string,
  bytes: Uint8Array,
  registry: LoaderRegistry = DEFAULT_REGISTRY,
): Detection {
  const ext = extname(path).toLowerCase();
  const byName = registry.typeOfName(path);
  const byContent = sniffType(bytes);
  if (bytes.length === 0) return { mismatch: 'the file is empty (0 bytes)' };
  if (byName && registry.isBinary(byName)) {
    if (byContent === byName) return { type: byName };
    // Containers whose flavour the sniff cannot always tell apart (m4a/mp4, ogg audio/video).
    if ((byName === 'audio' || byName === 'video') && (byContent === 'audio' || byContent === 'video'))
      return { type: byName };
    const what =
      byContent === undefined
        ? 'no known format'
        : byContent === 'zip'
          ? 'a zip archive'
          : `a ${byContent} file`;
    const article = /^[aeiou]/.test(byName) ? 'an' : 'a';
    return { mismatch: `named like ${article} ${byName} file but its content is ${what}` };
  }
  if (byContent && byContent !== 'zip' && registry.isBinary(byContent)) return { type: byContent };
  if (byName) return { type: byName };
  if (byContent === 'html' || byContent === 'subtitles') return { type: byContent };
  return { unsupported: ext ? `no loader for ${ext} files` : 'no loader for files without an extension' };
}
