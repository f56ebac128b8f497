import { extname } from 'node:path';

/** Longest file name segment kept, in UTF-8 bytes (file systems allow 255). */
const MAX_SEGMENT_BYTES = 180;
const MAX_DEPTH = 32;

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  for (const ch of text) {
    if (Buffer.byteLength(out + ch) > maxBytes) break;
    out += ch;
  }
  return out;
}

/**
 * One file or folder name made safe to write: no path separators, no control or reserved characters, no `.` or
 * `..`, no leading dot (hidden files are skipped by folder walks), at most 180 bytes with the extension kept.
 * Letters of every script are kept as they are.
 */
export function sanitizeSegment(name: string): string {
  let s = name
    .normalize('NFC')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
    .replace(/[\u0000-\u001f\u007f/\\:*?"<>|]/g, '_')
    .trim()
    .replace(/[. ]+$/, '');
  s = s.replace(/^\.+/, (dots) => '_'.repeat(dots.length));
  if (s === '') s = '_';
  if (Buffer.byteLength(s) > MAX_SEGMENT_BYTES) {
    const ext = extname(s);
    const keepExt = Buffer.byteLength(ext) <= 20 ? ext : '';
    s =
      truncateUtf8(s.slice(0, s.length - keepExt.length), MAX_SEGMENT_BYTES - Buffer.byteLength(keepExt)) +
      keepExt;
  }
  return s;
}

/**
 * A relative path from the browser (`webkitRelativePath` or a file name) made safe, segment by segment: both
 * separators split, empty, `.` and `..` segments are dropped, so the result always stays inside the upload folder.
 */
export function sanitizeRelativePath(path: string): string {
  const segments = path
    .split(/[/\\]+/)
    .filter((seg) => seg !== '' && seg !== '.' && seg !== '..')
    .map(sanitizeSegment);
  const kept = segments.slice(-MAX_DEPTH);
  return kept.length > 0 ? kept.join('/') : 'upload';
}

/** `name (2).ext`, `name (3).ext`, ... for a relative path already taken in this upload. */
export function uniquePath(rel: string, taken: Set<string>): string {
  if (!taken.has(rel)) return rel;
  const ext = extname(rel);
  const base = rel.slice(0, rel.length - ext.length);
  for (let n = 2; ; n++) {
    const candidate = `${base} (${n})${ext}`;
    if (!taken.has(candidate)) return candidate;
  }
}
