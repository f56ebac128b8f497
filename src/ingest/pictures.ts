import { realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MmragError } from '../errors.js';
import { sniffImageMime } from '../media/image-decode.js';
import type { Picture } from '../types.js';
import type { LoaderContext } from './loader.js';
import { fetchBounded } from './net.js';

/**
 * Fetch the picture an `<img>` (or any document) refers to.
 *
 * `ref` may be a `data:` URI (base64 or percent-encoded), an `http(s)` URL (downloaded only when
 * `ctx.fetchRemote`), a protocol-relative `//host/x.png` (taken as https), a `file://` URL, an absolute
 * path, or a path relative to the folder of `baseFile` (URL-decoded, query and fragment dropped). When
 * `baseFile` is itself an http(s) URL (a page fetched by URL), relative refs resolve against it.
 * The bytes must be at most `ctx.limits.maxImageBytes` and sniff as a picture format.
 */
export function resolvePicture(ref: string, baseFile: string, ctx: LoaderContext): Promise<Picture> {
  // One file's references to the same picture share one read (and one copy of its bytes): a page showing one
  // picture 1,500 times holds it once.
  let cache = resolved.get(ctx);
  if (!cache) {
    cache = new Map();
    resolved.set(ctx, cache);
  }
  const key = `${baseFile}\n${ref}`;
  let picture = cache.get(key);
  if (!picture) {
    picture = resolveUncached(ref, baseFile, ctx);
    cache.set(key, picture);
  }
  return picture;
}

/** Pictures already resolved, per loader context (one context per file). */
const resolved = new WeakMap<LoaderContext, Map<string, Promise<Picture>>>();

async function resolveUncached(ref: string, baseFile: string, ctx: LoaderContext): Promise<Picture> {
  const trimmed = ref.trim();
  if (trimmed === '') throw new MmragError('empty picture reference', undefined, 'bad_ref');
  const maxBytes = ctx.limits.maxImageBytes;

  if (/^data:/i.test(trimmed)) {
    const { bytes, prefix } = decodeDataUri(trimmed, maxBytes);
    return asPicture(bytes, prefix);
  }

  const absoluteRef = trimmed.startsWith('//') ? `https:${trimmed}` : trimmed;
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(absoluteRef)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return fetchPicture(absoluteRef, ctx);
  // A page fetched from the web names web resources only: never a file on this machine.
  if (/^https?:\/\//i.test(baseFile)) {
    if (scheme !== undefined) {
      throw new MmragError(`a web page may not refer to "${scheme}:" pictures`, undefined, 'bad_ref');
    }
    return fetchPicture(new URL(trimmed, baseFile).href, ctx);
  }
  if (scheme === 'file') return readPicture(filePathsOf(absoluteRef), maxBytes, ctx.localRoot);
  if (scheme !== undefined) {
    throw new MmragError(`unsupported picture reference scheme "${scheme}:"`, undefined, 'bad_ref');
  }
  const folder = dirname(baseFile);
  const paths = pathCandidates(trimmed).map((p) => (isAbsolute(p) ? p : resolve(folder, p)));
  return readPicture(paths, maxBytes, ctx.localRoot);
}

function asPicture(bytes: Uint8Array, origin: string): Picture {
  const mime = sniffImageMime(bytes);
  if (mime === undefined) {
    throw new MmragError(
      `${origin} is not a picture in a known format (${bytes.byteLength} bytes)`,
      'Pictures must be PNG, JPEG, GIF, WebP, BMP, TIFF, AVIF, HEIC or SVG.',
      'not_image',
    );
  }
  return { bytes, mime, origin };
}

async function fetchPicture(url: string, ctx: LoaderContext): Promise<Picture> {
  if (!ctx.fetchRemote) {
    throw new MmragError(
      `${url}: remote fetching is off`,
      'Set ingest.fetchRemote to true to download pictures from the web.',
      'remote_off',
    );
  }
  const fetched = await fetchBounded(url, {
    timeoutMs: ctx.remoteTimeoutMs,
    maxBytes: ctx.limits.maxImageBytes,
    allowPrivateNetwork: ctx.allowPrivateNetwork,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  return asPicture(fetched.bytes, fetched.finalUrl);
}

function filePathsOf(fileUrl: string): string[] {
  let url: URL;
  try {
    url = new URL(fileUrl);
  } catch {
    throw new MmragError(`"${fileUrl}" is not a valid file URL`, undefined, 'bad_ref');
  }
  url.search = '';
  url.hash = '';
  try {
    return [fileURLToPath(url)];
  } catch (err) {
    throw new MmragError(`${fileUrl}: ${(err as Error).message}`, undefined, 'bad_ref');
  }
}

/** The path a relative/absolute ref names: URL-decoded first, then as written (a file may contain `%`). */
function pathCandidates(ref: string): string[] {
  const bare = ref.replace(/[?#].*$/s, '');
  let decoded = bare;
  try {
    decoded = decodeURIComponent(bare);
  } catch {
    // a stray '%' that is not an escape: keep the ref as written
  }
  return decoded === bare ? [bare] : [decoded, bare];
}

/** True when `path` (symlinks resolved) lies inside `root`. */
function isInside(path: string, root: string): boolean {
  let real: string;
  let realRoot: string;
  try {
    real = realpathSync(path);
    realRoot = realpathSync(root);
  } catch {
    return false;
  }
  return real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
}

async function readPicture(paths: string[], maxBytes: number, localRoot?: string): Promise<Picture> {
  for (const path of paths) {
    // Inside an upload's folder, a file outside it and a file that does not exist are the same to the uploader:
    // one warning for both, so that an uploaded page cannot learn which files exist on the server.
    if (localRoot && !isInside(path, localRoot)) continue;
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        continue;
      throw new MmragError(`${path}: cannot read picture (${(err as Error).message})`, undefined, 'io', {
        cause: err,
      });
    }
    if (!info.isFile()) throw new MmragError(`${path} is not a file`, undefined, 'bad_ref');
    if (info.size > maxBytes) throw tooLarge(path, info.size, maxBytes);
    const bytes = new Uint8Array(await readFile(path));
    if (bytes.byteLength > maxBytes) throw tooLarge(path, bytes.byteLength, maxBytes);
    return { ...asPicture(bytes, path), file: resolve(path) };
  }
  if (localRoot) {
    throw new MmragError(
      `picture file not found among the files uploaded with it: ${paths[0]}`,
      'Upload the pictures together with the page that shows them.',
      'not_found',
    );
  }
  throw new MmragError(
    `picture file not found: ${paths[0]}`,
    'Save the page "complete" (with its _files folder) or keep the pictures beside it.',
    'not_found',
  );
}

function tooLarge(origin: string, size: number, maxBytes: number): MmragError {
  return new MmragError(
    `${origin}: picture is ${size} bytes, over the limit of ${maxBytes}`,
    'Raise ingest.maxImageBytes if the picture is genuine.',
    'too_large',
  );
}

/** Bytes of a `data:` URI; `prefix` is the part before the comma (for messages). */
export function decodeDataUri(uri: string, maxBytes: number): { bytes: Uint8Array; prefix: string } {
  const comma = uri.indexOf(',');
  if (comma < 0) throw new MmragError('malformed data: URI (no comma)', undefined, 'bad_ref');
  const prefix = uri.slice(0, comma);
  const payload = uri.slice(comma + 1);
  const isBase64 = /;\s*base64\s*$/i.test(prefix);
  // Neither encoding expands bytes more than 3x (percent) or 4/3x (base64): refuse a payload that is
  // certainly too big before decoding it; the exact check follows the decoding.
  if (payload.length > maxBytes * 4 + 16) throw tooLarge(prefix, payload.length, maxBytes);
  let bytes: Uint8Array;
  if (isBase64) {
    const compact = percentDecode(payload);
    bytes = new Uint8Array(
      Buffer.from(new TextDecoder('latin1').decode(compact).replace(/\s+/g, ''), 'base64'),
    );
  } else {
    bytes = percentDecode(payload);
  }
  if (bytes.byteLength > maxBytes) throw tooLarge(prefix, bytes.byteLength, maxBytes);
  return { bytes, prefix };
}

/** Percent-decode to bytes: `%XX` gives byte XX, every other character its UTF-8 bytes. */
function percentDecode(text: string): Uint8Array {
  const raw = Buffer.from(text, 'utf8');
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte === 0x25 && i + 2 < raw.length && isHex(raw[i + 1]!) && isHex(raw[i + 2]!)) {
      out[n++] = Number.parseInt(String.fromCharCode(raw[i + 1]!, raw[i + 2]!), 16);
      i += 2;
    } else {
      out[n++] = byte;
    }
  }
  return out.slice(0, n);
}

function isHex(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}
