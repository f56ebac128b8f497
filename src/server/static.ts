import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

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
}

/**
 * The file of the web app for a URL path, or index.html for app routes (paths without an extension). The path
 * is resolved inside the web folder and refused if it would leave it.
 */
export async function staticFile(urlPath: string, root = WEB_DIST): Promise<StaticFile | undefined> {
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
  const isFile = await stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!isFile) {
    if (extname(decoded) !== '') return undefined;
    file = join(base, 'index.html');
    if (!existsSync(file)) return undefined;
  }
  const body = new Uint8Array(await readFile(file));
  const hashed = file.startsWith(join(base, 'assets') + sep);
  return {
    body,
    type: MIME[extname(file)] ?? 'application/octet-stream',
    cacheControl: hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
}

/** Shown at `/` when the web app was not built (a source checkout): the API still works. */
export const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mmrag</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto;line-height:1.5">
<h1>mmrag</h1><p>The HTTP API is running (see <a href="/api/openapi.json">/api/openapi.json</a>), but the web app
is not built in this checkout. Build it with <code>npm run build:web</code>.</p></body></html>`;
