import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

/** The built web app: `web/dist` at the package root (the same from `src/server` and `dist/server`). */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self' 'unsafe-inline'",
  "script-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface StaticFile {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  /** Hashed asset names never change: cache them for a year; everything else is revalidated. */
  cacheControl: string;
  /** `br` or `gzip` when the body is compressed (text files, for a client that accepts it). */
  encoding?: Encoding;
}

export type Encoding = 'br' | 'gzip';

const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.webmanifest', '.txt']);
const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

/** The encoding to send for an `Accept-Encoding` header: brotli when accepted (smaller), else gzip, else none. */
export function chooseEncoding(accept: string | undefined): Encoding | undefined {
  const accepted = new Map<string, number>();
  for (const part of (accept ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
    accepted.set(name, q === undefined ? 1 : Number(q));
  }
  const wildcard = accepted.get('*') ?? 0;
  const quality = (name: Encoding) => accepted.get(name) ?? wildcard;
  if (quality('br') > 0) return 'br';
  if (quality('gzip') > 0) return 'gzip';
  return undefined;
}

/** Compressed copies of the web app's text files, made once per file version (the app is a few files). */
const compressedCache = new Map<string, { version: string; body: Uint8Array<ArrayBuffer> }>();

async function compressedBody(
  file: string,
  version: string,
  body: Uint8Array,
  encoding: Encoding,
): Promise<Uint8Array<ArrayBuffer>> {
  const key = `${encoding}:${file}`;
  const cached = compressedCache.get(key);
  if (cached?.version === version) return cached.body;
  const packed =
    encoding === 'br'
      ? await brotli(body, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
          },
        })
      : await gzipped(body, { level: 9 });
  const out = new Uint8Array(packed);
  compressedCache.set(key, { version, body: out });
  return out;
}

/**
 * The file of the web app for a URL path, or index.html for app routes (paths without an extension). The path
 * is resolved inside the web folder and refused if it would leave it.
 */
export async function staticFile(
  urlPath: string,
  root = WEB_DIST,
  acceptEncoding?: string,
): Promise<StaticFile | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const base = resolve(root);
  let file = resolve(base, `.${decoded.startsWith('/') ? decoded : `/${decoded}`}`);
  if (file !== base && !file.startsWith(base + sep)) return undefined;
  let info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    if (extname(decoded) !== '') return undefined;
    file = join(base, 'index.html');
    if (!existsSync(file)) return undefined;
    info = await stat(file);
  }
  const body = new Uint8Array(await readFile(file));
  const hashed = file.startsWith(join(base, 'assets') + sep);
  const shown = {
    type: MIME[extname(file)] ?? 'application/octet-stream',
    cacheControl: hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
  const encoding = COMPRESSIBLE.has(extname(file)) ? chooseEncoding(acceptEncoding) : undefined;
  if (!encoding || body.length < 512) return { body, ...shown };
  const version = `${info.mtimeMs}:${info.size}`;
  return { body: await compressedBody(file, version, body, encoding), ...shown, encoding };
}

/** Shown at `/` when the web app was not built (a source checkout): the API still works. */
export const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mmrag</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto;line-height:1.5">
<h1>mmrag</h1><p>The HTTP API is running (see <a href="/api/openapi.json">/api/openapi.json</a>), but the web app
is not built in this checkout. Build it with <code>npm run build:web</code>.</p></body></html>`;
