import { MmragError } from '../../errors.js';
import type { ItemDraft } from '../../types.js';
import type { LoaderContext } from '../loader.js';
import { checkNesting } from '../nesting.js';
import { fetchBounded } from '../net.js';
import { decodeHtmlBytes, extractHtmlItems } from './html.js';

/** Largest page (HTML only; pictures have their own limit) fetched by URL. */
export const MAX_PAGE_BYTES = 20 * 1024 * 1024;

const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);

export interface LoadedUrl {
  items: ItemDraft[];
  title: string;
  /** The page's URL after redirects. */
  finalUrl: string;
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type ? type : undefined;
}

/** True when bytes sent without a Content-Type look like an HTML document. */
export function sniffsAsHtml(bytes: Uint8Array): boolean {
  const head = new TextDecoder('utf-8')
    .decode(bytes.subarray(0, 1024))
    .replace(/^\uFEFF/, '')
    .trimStart();
  return /^(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<!--)/i.test(head);
}

/** The page's text: the Content-Type charset when it names a known encoding, else what the markup says. */
export function decodePage(bytes: Uint8Array, contentType: string | undefined): string {
  const charset = /;\s*charset\s*=\s*"?([\w.:-]+)/i.exec(contentType ?? '')?.[1];
  if (charset) {
    try {
      return new TextDecoder(charset).decode(bytes);
    } catch {
      // unknown label: fall back to the BOM / <meta> detection
    }
  }
  return decodeHtmlBytes(bytes);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The main content of a page as a small HTML document: `<title>` = the article's title, `<base href>` = the
 * page's URL, the body = the article Mozilla Readability extracts (navigation, footers, ads and other
 * boilerplate removed, relative links made absolute). Undefined when Readability finds no article.
 */
export async function extractArticle(
  html: string,
  pageUrl: string,
): Promise<{ html: string; title: string } | undefined> {
  const { DOMParser } = await import('linkedom');
  const { Readability } = await import('@mozilla/readability');
  const document = new DOMParser().parseFromString(html, 'text/html');
  const pageTitle = (document.querySelector('title')?.textContent ?? '').replace(/\s+/g, ' ').trim();
  // Readability makes relative URLs absolute against document.baseURI, which linkedom takes from <base>.
  if (!document.querySelector('base[href]') && document.head) {
    const base = document.createElement('base', {});
    base.setAttribute('href', pageUrl);
    document.head.prepend(base);
  }
  // Readability's parameter is the DOM's Document; linkedom's document is structurally compatible.
  const article = new Readability(document as unknown as Document).parse();
  if (!article?.content) return undefined;
  const title = (article.title ?? '').replace(/\s+/g, ' ').trim() || pageTitle;
  const page =
    '<!doctype html><html><head><meta charset="utf-8">' +
    `<base href="${escapeHtml(pageUrl)}"><title>${escapeHtml(title)}</title></head>` +
    `<body>${article.content}</body></html>`;
  return { html: page, title };
}

/**
 * Ingest a web page by URL: download it (time, size and redirect bounded; private addresses refused unless
 * `ctx.allowPrivateNetwork`), require HTML, keep the main content (Readability over linkedom) and read it
 * like a saved page (`extractHtmlItems`): sections from headings, text chunks, and its images downloaded
 * through `resolvePicture` (only when `ctx.fetchRemote`). A page where Readability finds no article is read
 * whole, with a warning.
 */
export async function loadUrl(url: string, ctx: LoaderContext): Promise<LoadedUrl> {
  const fetched = await fetchBounded(url, {
    timeoutMs: ctx.remoteTimeoutMs,
    maxBytes: MAX_PAGE_BYTES,
    allowPrivateNetwork: ctx.allowPrivateNetwork,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  const finalUrl = fetched.finalUrl;
  const type = mediaType(fetched.contentType);
  const isHtml = type === undefined ? sniffsAsHtml(fetched.bytes) : HTML_TYPES.has(type);
  if (!isHtml) {
    throw new MmragError(
      `${finalUrl}: not a web page (the server sent ${type ?? 'content that is not HTML'})`,
      'Only HTML pages can be ingested by URL; download the file and ingest it from disk instead.',
      'not_html',
    );
  }
  const html = decodePage(fetched.bytes, fetched.contentType);
  ctx.signal?.throwIfAborted();
  checkNesting(html, true, ctx.limits.maxNestingDepth, finalUrl, 'the page');
  const article = await extractArticle(html, finalUrl);
  if (!article) {
    ctx.warn(`${finalUrl}: no main article found; the whole page was read`);
    const items = await extractHtmlItems(html, finalUrl, ctx);
    const pageTitle = /<title[^>]*>([^<]*)<\/title>/i.exec(html)?.[1]?.replace(/\s+/g, ' ').trim();
    return { items, title: items[0]?.title || pageTitle || new URL(finalUrl).hostname, finalUrl };
  }
  const items = await extractHtmlItems(article.html, finalUrl, ctx);
  return { items, title: items[0]?.title || article.title || new URL(finalUrl).hostname, finalUrl };
}
