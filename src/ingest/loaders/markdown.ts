import { basename } from 'node:path';
import { errorMessage } from '../../errors.js';
import type { ItemDraft } from '../../types.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { resolvePicture } from '../pictures.js';
import { decodeTextFile } from '../text-decode.js';
import { packBlocks, type TextBlock } from './text.js';

/** An image a Markdown document references (`![alt](src "title")`, `![alt][ref]` or `<img>`). */
export interface MarkdownImage {
  src: string;
  alt: string;
  title: string;
}

export interface MarkdownSection {
  /** The heading's text; empty for the text before the first heading. */
  heading: string;
  /** 1-6; 0 before the first heading. */
  level: number;
  blocks: TextBlock[];
  images: MarkdownImage[];
}

export interface MarkdownDocument {
  /** The front matter's `title`, else the first level-1 heading; undefined when there is neither. */
  title?: string;
  sections: MarkdownSection[];
}

export const NO_CAPTION = 'No caption available';

/** Caption of an image item: the alt text, else the title, else a fixed placeholder. */
export function imageCaption(image: MarkdownImage): string {
  return image.alt.trim() || image.title.trim() || NO_CAPTION;
}

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)/;
const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$/;
const SETEXT_H1 = /^ {0,3}=+[ \t]*$/;
const SETEXT_H2 = /^ {0,3}-+[ \t]*$/;
const THEMATIC_BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const LINK_DEFINITION =
  /^ {0,3}\[([^\]]+)\]:[ \t]*(<[^>]*>|\S+)(?:[ \t]+("[^"]*"|'[^']*'|\([^)]*\)))?[ \t]*$/;
const LIST_ITEM = /^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+/;
const TABLE_DELIMITER = /^[ \t]*\|?[ \t]*:?-{1,}:?[ \t]*(?:\|[ \t]*:?-{1,}:?[ \t]*)+\|?[ \t]*$/;
const INLINE_IMAGE =
  /!\[((?:[^\]\\]|\\.)*)\]\([ \t]*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:[ \t\n]+("[^"]*"|'[^']*'|\([^)]*\)))?[ \t]*\)/g;
const REFERENCE_IMAGE = /!\[((?:[^\]\\]|\\.)*)\]\[([^\]]*)\]/g;
const IMG_TAG = /<img\b[^>]*>/gi;
const HTML_ATTRIBUTE = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/g;
const HTML_TAG = /<\/?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?\/?>/g;

function unquote(text: string | undefined): string {
  if (!text) return '';
  const first = text[0];
  if ((first === '"' || first === "'" || first === '(') && text.length >= 2) return text.slice(1, -1);
  return text;
}

function unwrapDestination(dest: string): string {
  return dest.startsWith('<') && dest.endsWith('>') ? dest.slice(1, -1) : dest;
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|nbsp);/gi, (whole, name: string) => {
    const lower = name.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(Number.parseInt(lower.slice(2), 16) || 0xfffd);
    if (lower.startsWith('#')) return String.fromCodePoint(Number.parseInt(lower.slice(1), 10) || 0xfffd);
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
    return named[lower] ?? whole;
  });
}

function unescapeMarkdown(text: string): string {
  return text.replace(/\\([!-/:-@[-`{-~])/g, '$1');
}

function normaliseLabel(label: string): string {
  return label.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** The attributes of one HTML tag, names lower-cased, values entity-decoded. */
export function parseHtmlAttributes(tag: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const match of tag.matchAll(HTML_ATTRIBUTE)) {
    const name = match[1]!.toLowerCase();
    if (name in attributes) continue;
    attributes[name] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return attributes;
}

interface PendingImage {
  alt: string;
  src?: string;
  title?: string;
  /** For `![alt][label]`: resolved once every link definition is known. */
  label?: string;
}

/**
 * Take the images out of a block of Markdown: each becomes an image reference and, in the text, its alt
 * text. Other HTML tags are removed (their text stays).
 */
function extractImages(text: string): { text: string; images: PendingImage[] } {
  const images: PendingImage[] = [];
  let out = text.replace(INLINE_IMAGE, (_whole, alt: string, dest: string, title: string | undefined) => {
    const cleanAlt = unescapeMarkdown(alt);
    images.push({ alt: cleanAlt, src: unwrapDestination(dest), title: unquote(title) });
    return cleanAlt;
  });
  out = out.replace(REFERENCE_IMAGE, (_whole, alt: string, label: string) => {
    const cleanAlt = unescapeMarkdown(alt);
    images.push({ alt: cleanAlt, label: normaliseLabel(label || alt) });
    return cleanAlt;
  });
  out = out.replace(IMG_TAG, (tag) => {
    const attributes = parseHtmlAttributes(tag);
    const alt = attributes.alt ?? '';
    if (attributes.src) images.push({ alt, src: attributes.src, title: attributes.title ?? '' });
    return alt;
  });
  out = out.replace(HTML_TAG, '');
  return { text: out, images };
}

/** False for a block made only of images (and links around them): its alt text is already the caption. */
function hasOwnText(text: string): boolean {
  const rest = text
    .replace(INLINE_IMAGE, '')
    .replace(REFERENCE_IMAGE, '')
    .replace(IMG_TAG, '')
    .replace(HTML_TAG, '')
    .replace(/\[\s*\]\([^)]*\)/g, '');
  return rest.trim() !== '';
}

/** Heading text without Markdown decoration: links and images reduced to their text, emphasis removed. */
function plainHeading(text: string): string {
  return decodeEntities(
    unescapeMarkdown(
      text
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/!?\[([^\]]*)\]\[[^\]]*\]/g, '$1')
        .replace(HTML_TAG, '')
        .replace(/(\*\*|__|[*`])/g, ''),
    ),
  )
    .replace(/\s+/g, ' ')
    .trim();
}

/** Front matter (`---` YAML or `+++` TOML) at the very start: its `title`, and where the body starts. */
export function readFrontMatter(text: string): { title?: string; body: string } {
  const match = /^(---|\+\+\+)[ \t]*\n/.exec(text);
  if (!match) return { body: text };
  const fence = match[1]!;
  const lines = text.slice(match[0].length).split('\n');
  const close = lines.findIndex((line) =>
    fence === '---' ? /^(---|\.\.\.)[ \t]*$/.test(line) : /^\+\+\+[ \t]*$/.test(line),
  );
  if (close === -1) return { body: text };
  const body = lines.slice(close + 1).join('\n');
  const titlePattern = fence === '---' ? /^title[ \t]*:[ \t]*(.*)$/ : /^title[ \t]*=[ \t]*(.*)$/;
  for (const line of lines.slice(0, close)) {
    const found = titlePattern.exec(line);
    if (!found) continue;
    const raw = found[1]!.trim();
    const quoted = /^(["'])(.*)\1$/.exec(raw);
    const title = (quoted ? quoted[2]! : raw.replace(/[ \t]+#.*$/, '')).trim();
    return title ? { title, body } : { body };
  }
  return { body };
}

function blockKind(lines: string[]): TextBlock['kind'] {
  const first = lines[0] ?? '';
  if (/^( {4}|\t)/.test(first)) return 'lines';
  if (/^ {0,3}>/.test(first) || LIST_ITEM.test(first)) return 'lines';
  if (first.trimStart().startsWith('|') || (lines.length > 1 && TABLE_DELIMITER.test(lines[1]!)))
    return 'lines';
  return 'prose';
}

/**
 * Parse Markdown into sections (one per ATX or setext heading) holding their text blocks (paragraphs,
 * lists, quotes, tables and fenced code, kept as Markdown) and the images they reference. A small
 * line-based parser, not full CommonMark: nested containers are kept as the text they are, and only the
 * constructs that change sections, images or code are recognised.
 */
export function parseMarkdown(source: string): MarkdownDocument {
  const front = readFrontMatter(source);
  const lines = front.body.split('\n');
  const definitions = new Map<string, { src: string; title: string }>();
  const sections: MarkdownSection[] = [];
  const pending: { section: MarkdownSection; images: PendingImage[] }[] = [];
  let firstH1: string | undefined;
  let current: MarkdownSection = { heading: '', level: 0, blocks: [], images: [] };
  let paragraph: string[] = [];
  let fence: { marker: string; lang: string; lines: string[] } | undefined;
  let inComment = false;

  const startSection = (heading: string, level: number) => {
    if (level === 1 && firstH1 === undefined && heading) firstH1 = heading;
    sections.push(current);
    current = { heading, level, blocks: [], images: [] };
  };
  const pushBlock = (text: string, kind: TextBlock['kind']) => {
    const extracted = extractImages(text);
    if (extracted.images.length > 0) pending.push({ section: current, images: extracted.images });
    if (!hasOwnText(text)) return;
    const clean = kind === 'prose' ? extracted.text : extracted.text.replace(/\n[ \t]*(?=\n)/g, '\n');
    if (clean.trim()) current.blocks.push({ text: clean, kind });
  };
  const endParagraph = () => {
    if (paragraph.length > 0) pushBlock(paragraph.join('\n'), blockKind(paragraph));
    paragraph = [];
  };

  for (const line of lines) {
    if (fence) {
      const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line);
      if (close && close[1]![0] === fence.marker[0] && close[1]!.length >= fence.marker.length) {
        current.blocks.push({ text: fenceText(fence), kind: 'lines' });
        fence = undefined;
      } else {
        fence.lines.push(line);
      }
      continue;
    }
    if (inComment) {
      if (line.includes('-->')) inComment = false;
      continue;
    }
    const open = FENCE_OPEN.exec(line);
    if (open && !(open[1]![0] === '`' && line.slice(open.index + open[0].length).includes('`'))) {
      endParagraph();
      fence = { marker: open[1]!, lang: open[2] ?? '', lines: [] };
      continue;
    }
    if (paragraph.length === 0 && /^ {0,3}<!--/.test(line)) {
      if (!line.includes('-->')) inComment = true;
      continue;
    }
    const atx = ATX_HEADING.exec(line);
    if (atx) {
      endParagraph();
      const raw = (atx[2] ?? '').replace(/(?:^|[ \t]+)#+$/, '');
      startSection(plainHeading(raw), atx[1]!.length);
      continue;
    }
    if (paragraph.length > 0 && blockKind(paragraph) === 'prose') {
      const level = SETEXT_H1.test(line) ? 1 : SETEXT_H2.test(line) ? 2 : 0;
      if (level > 0) {
        const heading = plainHeading(paragraph.join(' '));
        paragraph = [];
        startSection(heading, level);
        continue;
      }
    }
    if (THEMATIC_BREAK.test(line)) {
      endParagraph();
      continue;
    }
    const definition = paragraph.length === 0 ? LINK_DEFINITION.exec(line) : null;
    if (definition) {
      const label = normaliseLabel(definition[1]!);
      if (!definitions.has(label)) {
        definitions.set(label, { src: unwrapDestination(definition[2]!), title: unquote(definition[3]) });
      }
      continue;
    }
    if (line.trim() === '') {
      endParagraph();
      continue;
    }
    paragraph.push(line);
  }
  if (fence) current.blocks.push({ text: fenceText(fence), kind: 'lines' });
  endParagraph();
  sections.push(current);

  for (const { section, images } of pending) {
    for (const image of images) {
      const target = image.label === undefined ? image : definitions.get(image.label);
      if (!target?.src) continue;
      section.images.push({ src: target.src, alt: image.alt, title: image.title || target.title || '' });
    }
  }

  const title = front.title ?? firstH1;
  const kept = sections.filter((section) => section.blocks.length > 0 || section.images.length > 0);
  return title === undefined ? { sections: kept } : { title, sections: kept };
}

function fenceText(fence: { marker: string; lang: string; lines: string[] }): string {
  return `${fence.marker}${fence.lang}\n${fence.lines.join('\n')}\n${fence.marker}`;
}

/**
 * Markdown files: one section per heading (text before the first heading belongs to the document title),
 * text chunked per section, referenced images (relative paths, `data:` URIs, remote URLs when allowed)
 * loaded as image items. An image that cannot be read is reported through `ctx.warn` and skipped.
 */
export class MarkdownLoader implements Loader {
  readonly type = 'markdown' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    const { text } = decodeTextFile(input.bytes, input.path);
    const doc = parseMarkdown(text);
    const title = doc.title ?? basename(input.path);
    const items: ItemDraft[] = [];
    const seen = new Set<string>();
    for (const section of doc.sections) {
      const name = section.heading || title;
      for (const chunk of packBlocks(section.blocks, ctx.chunkSize, ctx.chunkOverlap, ctx.minTextLength)) {
        items.push({ modality: 'text', title, section: name, text: chunk });
      }
      for (const image of section.images) {
        if (seen.has(image.src)) continue;
        seen.add(image.src);
        ctx.signal?.throwIfAborted();
        try {
          const picture = await resolvePicture(image.src, input.path, ctx);
          items.push({ modality: 'image', title, section: name, caption: imageCaption(image), picture });
        } catch (err) {
          if (ctx.signal?.aborted) throw err;
          ctx.warn(`${input.path}: image "${shorten(image.src)}" skipped: ${errorMessage(err)}`);
        }
      }
    }
    return items;
  }
}

function shorten(src: string): string {
  return src.length > 120 ? `${src.slice(0, 100)}...` : src;
}
