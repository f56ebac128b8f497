import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load as loadHtml } from 'cheerio';
import { errorMessage } from '../../errors.js';
import type { ItemDraft, Picture } from '../../types.js';
import { chunkText } from '../chunk.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { checkNesting } from '../nesting.js';
import { resolvePicture } from '../pictures.js';

/** Shown for an image that has neither alt text nor a figure caption (the reference's wording). */
export const NO_CAPTION = 'No caption available';

/**
 * Web pages (`.html`, `.htm`, pages saved "complete" with their `_files/` folder), read exactly as the
 * reference pipeline reads them:
 * - title: the trimmed `<title>`, or the file name without its extension;
 * - elements `h1, h2, h3, p, ul, ol, img` in document order; the section is the text of the latest
 *   `h1`-`h3` (the title before any heading, and '' after a heading without text);
 * - `p`, `ul`, `ol`: the element's text (whitespace collapsed, list items and other blocks separated by a
 *   space, `<script>`/`<style>` content left out), kept when at least `ctx.minTextLength` characters, then
 *   split with `chunkText(ctx.chunkSize, ctx.chunkOverlap)`. Like the reference, an element nested in
 *   another selected one is visited on its own too: a `p` inside an `li` appears both in its list's text
 *   and as its own block, and a nested list both inside its parent list and alone;
 * - `img`: caption from `alt`, else the enclosing `figure`'s `figcaption`, else "No caption available";
 *   the picture from `src` (or the first `srcset` candidate) via `resolvePicture`, relative refs resolved
 *   against a relative or `file:` `<base href>` when present. A picture that cannot be had costs one
 *   `ctx.warn` line and the page goes on.
 * Bytes are decoded as UTF-8 unless a BOM, a `<meta charset>` (or `http-equiv` Content-Type) or an XML
 * declaration names another encoding. Nothing in the page is executed.
 */
export class HtmlLoader implements Loader {
  readonly type = 'html' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    return extractHtmlItems(decodeHtmlBytes(input.bytes), input.path, ctx);
  }
}

/** The items of one page's markup; `pagePath` is the file's absolute path (or the page's URL). */
export async function extractHtmlItems(
  html: string,
  pagePath: string,
  ctx: LoaderContext,
): Promise<ItemDraft[]> {
  checkNesting(html, true, ctx.limits.maxNestingDepth, pagePath, 'the page');
  const $ = loadHtml(html);
  const title = collapse($('title').first().text()) || fallbackTitle(pagePath);
  const pictureBase = resolutionBase($('base[href]').first().attr('href'), pagePath);
  const items: ItemDraft[] = [];
  let section = title;

  for (const el of $('h1, h2, h3, p, ul, ol, img').toArray()) {
    ctx.signal?.throwIfAborted();
    const tag = el.name.toLowerCase();
    if (tag === 'h1' || tag === 'h2' || tag === 'h3') {
      section = textOf(el);
      continue;
    }
    if (tag === 'img') {
      const ref = imageRef($(el).attr('src'), $(el).attr('srcset'));
      if (ref === undefined) {
        ctx.warn(`${pagePath}: an <img> without src or srcset was skipped`);
        continue;
      }
      const altText = collapse($(el).attr('alt') ?? '');
      const figure = $(el).closest('figure');
      const figcaption = figure.children('figcaption').first().length
        ? figure.children('figcaption').first()
        : figure.find('figcaption').first();
      const figcaptionText = figcaption.length ? textOf(figcaption.get(0)!) : '';
      const caption = altText || figcaptionText || NO_CAPTION;
      let picture: Picture;
      try {
        picture = await resolvePicture(ref, pictureBase, ctx);
      } catch (err) {
        if (ctx.signal?.aborted) throw err;
        ctx.warn(`${pagePath}: image "${shortRef(ref)}" skipped: ${errorMessage(err)}`);
        continue;
      }
      items.push({ modality: 'image', title, section, caption, picture });
      continue;
    }
    const text = textOf(el);
    if (text.length < ctx.minTextLength) continue;
    for (const chunk of chunkText(text, ctx.chunkSize, ctx.chunkOverlap)) {
      items.push({ modality: 'text', title, section, text: chunk });
    }
  }
  return items;
}

/** `src`, else the first `srcset` candidate's URL, else undefined. */
export function imageRef(src: string | undefined, srcset: string | undefined): string | undefined {
  const direct = src?.trim();
  if (direct) return direct;
  // HTML's srcset parsing: skip leading spaces and commas, the URL runs to the next space, trailing
  // commas are not part of it (so data: URIs with commas inside survive).
  const first = srcset
    ?.replace(/^[\s,]+/, '')
    .split(/\s+/)[0]
    ?.replace(/,+$/, '');
  return first ? first : undefined;
}

/** Whitespace collapsed to single spaces, trimmed. */
function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** A DOM node as cheerio (domhandler) builds it, as far as text extraction needs. */
interface DomNodeLike {
  type: string;
  name?: string;
  data?: string;
  children?: DomNodeLike[];
}

const NO_TEXT_ELEMENTS = new Set(['script', 'style', 'noscript', 'template']);
const BLOCK_ELEMENTS = new Set([
  'address',
  'article',
  'aside',
  'blockquote',
  'br',
  'caption',
  'dd',
  'div',
  'dl',
  'dt',
  'figcaption',
  'figure',
  'footer',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hr',
  'li',
  'main',
  'nav',
  'ol',
  'p',
  'pre',
  'section',
  'table',
  'td',
  'th',
  'tr',
  'ul',
]);

/** Visible text of an element: blocks separated by a space, whitespace collapsed, scripts/styles left out. */
function textOf(root: DomNodeLike): string {
  const parts: string[] = [];
  const stack: (DomNodeLike | ' ')[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node === ' ') {
      parts.push(' ');
      continue;
    }
    if (node.type === 'text') {
      parts.push(node.data ?? '');
      continue;
    }
    const name = node.name?.toLowerCase();
    if (name !== undefined && NO_TEXT_ELEMENTS.has(name)) continue;
    const children = node.children ?? [];
    const block = name !== undefined && BLOCK_ELEMENTS.has(name);
    if (block) stack.push(' ');
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    if (block) stack.push(' ');
  }
  return collapse(parts.join(''));
}

function fallbackTitle(pagePath: string): string {
  if (/^https?:\/\//i.test(pagePath)) {
    try {
      const url = new URL(pagePath);
      const last = decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? '');
      return (last ? last.replace(/\.[^.]*$/, '') : '') || url.hostname;
    } catch {
      return pagePath;
    }
  }
  return basename(pagePath, extname(pagePath));
}

/**
 * What relative picture refs resolve against: the page itself, or its `<base href>` when that is a
 * relative path or a `file:` URL (a local file), or anything at all for a page fetched by URL. A base
 * ending in `/` names a folder, so a file name inside it is returned.
 */
function resolutionBase(baseHref: string | undefined, pagePath: string): string {
  const href = baseHref?.trim();
  if (!href) return pagePath;
  if (/^https?:\/\//i.test(pagePath)) {
    try {
      return new URL(href, pagePath).href;
    } catch {
      return pagePath;
    }
  }
  const inFolder = (path: string) => (href.endsWith('/') ? join(path, 'index.html') : path);
  if (/^file:/i.test(href)) {
    try {
      const url = new URL(href);
      url.search = '';
      url.hash = '';
      return inFolder(fileURLToPath(url));
    } catch {
      return pagePath;
    }
  }
  if (href.startsWith('//') || /^[a-z][a-z0-9+.-]+:/i.test(href)) return pagePath;
  let path = href.replace(/[?#].*$/s, '');
  try {
    path = decodeURIComponent(path);
  } catch {
    // keep as written
  }
  return inFolder(resolve(dirname(pagePath), path));
}

function shortRef(ref: string): string {
  return ref.length > 80 ? `${ref.slice(0, 60)}...` : ref;
}

/**
 * Text of an HTML file's bytes: a BOM wins, then UTF-16 recognised by its zero bytes, then the
 * encoding a `<meta>` or XML declaration in the first 1024 bytes names, else UTF-8.
 */
export function decodeHtmlBytes(bytes: Uint8Array): string {
  const [b0, b1, b2] = bytes;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return new TextDecoder('utf-8').decode(bytes);
  if (b0 === 0xff && b1 === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
  if (b0 === 0xfe && b1 === 0xff) return new TextDecoder('utf-16be').decode(bytes);
  if (b0 === 0x3c && b1 === 0x00) return new TextDecoder('utf-16le').decode(bytes);
  if (b0 === 0x00 && b1 === 0x3c) return new TextDecoder('utf-16be').decode(bytes);
  const encoding = declaredEncoding(bytes);
  if (encoding === 'windows-1252') return decodeWindows1252(bytes);
  return new TextDecoder(encoding).decode(bytes);
}

/** Characters of bytes 0x80-0x9F in windows-1252 (the rest is Latin-1); the five unassigned stay C1. */
const WINDOWS_1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d,
  0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a,
  0x153, 0x9d, 0x17e, 0x178,
];

/**
 * windows-1252 (what `latin1`/`iso-8859-1` labels mean on the web). Done by hand because Node 20's
 * TextDecoder decodes it as plain Latin-1, turning curly quotes and the euro sign into control characters.
 */
function decodeWindows1252(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 8192) {
    const codes = Array.from(bytes.subarray(offset, offset + 8192), (b) =>
      b >= 0x80 && b <= 0x9f ? WINDOWS_1252_HIGH[b - 0x80]! : b,
    );
    parts.push(String.fromCharCode(...codes));
  }
  return parts.join('');
}

/** The encoding the markup declares (as TextDecoder names it), or utf-8. */
function declaredEncoding(bytes: Uint8Array): string {
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 1024));
  const label =
    /<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)/i.exec(head)?.[1] ??
    /<\?xml[^>]*encoding\s*=\s*["']([\w.:-]+)/i.exec(head)?.[1];
  if (!label) return 'utf-8';
  try {
    const encoding = new TextDecoder(label).encoding;
    // A page whose bytes are ASCII-compatible cannot really be UTF-16 (HTML spec: use UTF-8 then).
    return encoding.startsWith('utf-16') ? 'utf-8' : encoding;
  } catch {
    return 'utf-8';
  }
}
