import { basename } from 'node:path';
import type { CheerioAPI } from 'cheerio';
import type { AnyNode, Element } from 'domhandler';
import type JSZip from 'jszip';
import { MmragError } from '../../errors.js';
import { sniffImageMime } from '../../media/image-decode.js';
import type { ItemDraft, Picture } from '../../types.js';
import { chunkText } from '../chunk.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { splitTable, tableChunkChars } from '../tables.js';
import { openZipSafely, readZipBytes, readZipText, requireZipText, verifyZipExpansion } from '../zip.js';
import { parserFailureReason } from './parse-error.js';

export const NO_CAPTION = 'No caption available';

/** A document flattened into reading order: what both the .docx and the .odt readers produce. */
export type DocBlock =
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string; caption: boolean }
  | { kind: 'table'; rows: string[][] }
  | { kind: 'image'; bytes: Uint8Array; alt: string; origin: string };

const CAPTION_START = /^(figure|fig\.|illustration|image|picture|photo)\s*\d*/i;

/** A paragraph that captions a neighbouring picture: styled as a caption, or starting "Figure"/"Fig.". */
export function looksLikeCaption(text: string, styled: boolean): boolean {
  return styled || CAPTION_START.test(text.trim());
}

/**
 * The caption of the picture at `index`: its alt text, else the nearest caption paragraph right before or
 * after it (pictures in between skipped), else "No caption available".
 */
export function captionFor(blocks: DocBlock[], index: number): string {
  const block = blocks[index];
  if (block?.kind === 'image' && block.alt.trim()) return block.alt.trim();
  for (const step of [1, -1]) {
    let i = index + step;
    while (blocks[i]?.kind === 'image') i += step;
    const near = blocks[i];
    if (near?.kind === 'paragraph' && near.caption) return near.text;
  }
  return NO_CAPTION;
}

/**
 * A picture embedded in an office file, or undefined (with one warning) when it is too large or in a format
 * mmrag does not read (EMF/WMF drawings are common in Word and PowerPoint files).
 */
export function officePicture(
  bytes: Uint8Array,
  origin: string,
  ctx: Pick<LoaderContext, 'limits' | 'warn'>,
): Picture | undefined {
  if (bytes.length > ctx.limits.maxImageBytes) {
    ctx.warn(`${origin}: picture skipped: ${bytes.length} bytes, over ingest.maxImageBytes`);
    return undefined;
  }
  const mime = sniffImageMime(bytes);
  if (!mime) {
    ctx.warn(`${origin}: picture skipped: not a picture format mmrag reads (e.g. EMF/WMF)`);
    return undefined;
  }
  return { bytes, mime, origin };
}

/**
 * Items from document blocks. Headings start sections (before the first one the section is the title);
 * the paragraphs of a section are merged and chunked together, so short paragraphs are neither dropped nor
 * left as tiny items; tables become Markdown text items (split into row groups that repeat the header when
 * large); pictures become image items with `captionFor`.
 */
export function itemsFromBlocks(
  blocks: DocBlock[],
  title: string,
  ctx: Pick<LoaderContext, 'chunkSize' | 'chunkOverlap' | 'limits' | 'warn'>,
): ItemDraft[] {
  const items: ItemDraft[] = [];
  let section = title;
  let pending: string[] = [];
  const flush = () => {
    for (const text of chunkText(pending.join('\n'), ctx.chunkSize, ctx.chunkOverlap)) {
      items.push({ modality: 'text', title, section, text });
    }
    pending = [];
  };
  blocks.forEach((block, index) => {
    switch (block.kind) {
      case 'heading':
        flush();
        section = block.text;
        break;
      case 'paragraph':
        pending.push(block.text);
        break;
      case 'table': {
        flush();
        const [header = [], ...rows] = block.rows;
        for (const group of splitTable(header, rows, {
          maxChars: tableChunkChars(ctx.chunkSize),
          firstRow: 2,
        })) {
          items.push({ modality: 'text', title, section, text: group.markdown });
        }
        break;
      }
      case 'image': {
        const picture = officePicture(block.bytes, block.origin, ctx);
        if (picture) {
          items.push({ modality: 'image', title, section, caption: captionFor(blocks, index), picture });
        }
        break;
      }
    }
  });
  flush();
  return items;
}

// ---------- XML helpers shared by the OOXML and ODF readers ----------

export function isElement(node: AnyNode): node is Element {
  return 'attribs' in node;
}

export function childElements(node: AnyNode, name?: string): Element[] {
  if (!('children' in node)) return [];
  return node.children.filter((c): c is Element => isElement(c) && (name === undefined || c.name === name));
}

/** All descendant elements named `name`, in document order. */
export function descendants(node: AnyNode, name: string): Element[] {
  const out: Element[] = [];
  const walk = (n: AnyNode) => {
    for (const child of childElements(n)) {
      if (child.name === name) out.push(child);
      walk(child);
    }
  };
  walk(node);
  return out;
}

/** Text of an ODF element: honours text:s / text:tab / text:line-break; skips frames, notes and comments. */
export function odfText(node: AnyNode): string {
  if (node.type === 'text') return 'data' in node ? node.data : '';
  if (!isElement(node)) return '';
  switch (node.name) {
    case 'text:s':
      return ' '.repeat(Math.min(Number(node.attribs['text:c'] ?? 1) || 1, 1000));
    case 'text:tab':
      return '\t';
    case 'text:line-break':
      return '\n';
    case 'draw:frame':
    case 'text:note':
    case 'office:annotation':
    case 'text:bookmark-ref':
      return '';
    default:
      return node.children.map(odfText).join('');
  }
}

export async function loadXml(text: string): Promise<CheerioAPI> {
  const { load } = await import('cheerio');
  return load(text, { xml: true });
}

/** dc:title of an OOXML core.xml or ODF meta.xml, if the file sets one. */
export async function documentTitle(
  zip: JSZip,
  part: string,
  maxBytes: number,
  file: string,
): Promise<string> {
  const xml = await readZipText(zip, part, maxBytes, file);
  if (xml) {
    const $ = await loadXml(xml);
    const title = $('dc\\:title').first().text().trim();
    if (title) return title;
  }
  return basename(file);
}

/** The ODF package's declared type (`application/vnd.oasis.opendocument.text`, ...), or undefined. */
export async function odfMimetype(zip: JSZip, file: string): Promise<string | undefined> {
  return (await readZipText(zip, 'mimetype', 1024, file))?.trim();
}

// ---------- .docx (mammoth) ----------

function cleanText(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

async function docxBlocks(bytes: Uint8Array, file: string): Promise<DocBlock[]> {
  const { default: mammoth } = await import('mammoth');
  const pictures: Uint8Array[] = [];
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      {
        styleMap: [
          "p[style-name='Caption'] => p.caption:fresh",
          "p[style-name='caption'] => p.caption:fresh",
        ],
        externalFileAccess: false,
        convertImage: mammoth.images.imgElement(async (image) => {
          pictures.push(new Uint8Array(await image.readAsBuffer()));
          return { src: `mmrag-picture:${pictures.length - 1}` };
        }),
      },
    );
    html = result.value;
  } catch (err) {
    throw new MmragError(
      `${file}: cannot read the Word document: ${parserFailureReason(err)}`,
      'Re-save the file from Word or LibreOffice as .docx.',
      'bad_file',
      { cause: err },
    );
  }
  const { load } = await import('cheerio');
  const $ = load(html);
  const blocks: DocBlock[] = [];

  const pictureBlocks = (el: Element) => {
    const imgs = el.name === 'img' ? [el] : descendants(el, 'img');
    for (const img of imgs) {
      const index = Number((img.attribs.src ?? '').replace('mmrag-picture:', ''));
      const picture = pictures[index];
      if (picture)
        blocks.push({
          kind: 'image',
          bytes: picture,
          alt: img.attribs.alt ?? '',
          origin: `${file} (picture ${index + 1})`,
        });
    }
  };
  const ownText = (el: Element): string => {
    const copy = $(el).clone();
    copy.find('ul, ol').remove();
    return cleanText(copy.text());
  };
  const walk = (node: AnyNode) => {
    if (node.type === 'text') {
      const text = cleanText('data' in node ? node.data : '');
      if (text) blocks.push({ kind: 'paragraph', text, caption: looksLikeCaption(text, false) });
      return;
    }
    if (!isElement(node)) return;
    const name = node.name.toLowerCase();
    if (/^h[1-6]$/.test(name)) {
      const text = cleanText($(node).text());
      if (text) blocks.push({ kind: 'heading', text });
      pictureBlocks(node);
    } else if (name === 'p') {
      pictureBlocks(node);
      const text = cleanText($(node).text());
      const styled = ($(node).attr('class') ?? '').split(/\s+/).includes('caption');
      if (text) blocks.push({ kind: 'paragraph', text, caption: looksLikeCaption(text, styled) });
    } else if (name === 'ul' || name === 'ol') {
      for (const li of childElements(node, 'li')) {
        const text = ownText(li);
        if (text) blocks.push({ kind: 'paragraph', text: `- ${text}`, caption: false });
        for (const child of childElements(li)) {
          if (child.name === 'ul' || child.name === 'ol') walk(child);
          else pictureBlocks(child);
        }
      }
    } else if (name === 'table') {
      const rows = $(node)
        .find('tr')
        .toArray()
        .filter((tr) => $(tr).closest('table')[0] === node)
        .map((tr) =>
          childElements(tr)
            .filter((c) => c.name === 'td' || c.name === 'th')
            .map((cell) => cleanText($(cell).text())),
        );
      if (rows.length > 0) blocks.push({ kind: 'table', rows });
      pictureBlocks(node);
    } else if (name === 'img') {
      pictureBlocks(node);
    } else {
      for (const child of node.children) walk(child);
    }
  };
  const body = $('body')[0];
  for (const child of body ? body.children : $.root()[0]!.children) walk(child);
  return blocks;
}

// ---------- .odt (content.xml) ----------

/** draw:frame elements under `el` that are not inside another frame (those are reached through it). */
function outerFrames(el: Element): Element[] {
  const out: Element[] = [];
  for (const child of childElements(el)) {
    if (child.name === 'draw:frame') out.push(child);
    else out.push(...outerFrames(child));
  }
  return out;
}

/** Paragraph style name -> parent style name, from content.xml's automatic styles. */
function odfStyleParents($: CheerioAPI): Map<string, string> {
  const parents = new Map<string, string>();
  $('office\\:automatic-styles style\\:style').each((_, el) => {
    const name = el.attribs['style:name'];
    const parent = el.attribs['style:parent-style-name'];
    if (name && parent) parents.set(name, parent);
  });
  return parents;
}

async function odtBlocks(zip: JSZip, file: string, ctx: LoaderContext): Promise<DocBlock[]> {
  const xml = await requireZipText(zip, 'content.xml', ctx.limits.maxArchiveBytes, file);
  const $ = await loadXml(xml);
  const parents = odfStyleParents($);
  const isCaptionStyle = (style: string | undefined): boolean => {
    const names = [style, style ? parents.get(style) : undefined];
    return names.some((n) => n !== undefined && /caption|figure|illustration|drawing/i.test(n));
  };
  const blocks: DocBlock[] = [];
  const pictureBlocks = async (frame: Element) => {
    const alt = cleanText(
      childElements(frame)
        .filter((c) => c.name === 'svg:title' || c.name === 'svg:desc')
        .map((c) => $(c).text())
        .join(' '),
    );
    for (const image of childElements(frame, 'draw:image')) {
      const href = image.attribs['xlink:href'] ?? '';
      if (!href || /^[a-z]+:/i.test(href)) continue;
      const name = href.replace(/^\.\//, '');
      const bytes = await readZipBytes(zip, name, ctx.limits.maxImageBytes, file);
      if (bytes) blocks.push({ kind: 'image', bytes, alt, origin: `${file} (${name})` });
      else ctx.warn(`${file}: picture ${name} is referenced but missing`);
    }
    // Text boxes (LibreOffice puts a captioned picture in a frame with a text box around it).
    for (const box of childElements(frame, 'draw:text-box')) await walk(childElements(box));
  };
  const paragraphLike = async (el: Element, prefix: string) => {
    for (const frame of outerFrames(el)) await pictureBlocks(frame);
    const text = cleanText(odfText(el));
    if (text) {
      const styled = isCaptionStyle(el.attribs['text:style-name']);
      blocks.push({ kind: 'paragraph', text: `${prefix}${text}`, caption: looksLikeCaption(text, styled) });
    }
  };
  const walk = async (nodes: Element[]): Promise<void> => {
    for (const child of nodes) {
      switch (child.name) {
        case 'text:h': {
          const text = cleanText(odfText(child));
          if (text) blocks.push({ kind: 'heading', text });
          break;
        }
        case 'text:p':
          await paragraphLike(child, '');
          break;
        case 'text:list':
          for (const item of childElements(child, 'text:list-item')) {
            for (const part of childElements(item)) {
              if (part.name === 'text:p' || part.name === 'text:h') await paragraphLike(part, '- ');
              else if (part.name === 'text:list') await walk([part]);
            }
          }
          break;
        case 'table:table': {
          const rows = descendants(child, 'table:table-row')
            .filter((row) => $(row).closest('table\\:table')[0] === child)
            .map((row) =>
              childElements(row, 'table:table-cell').flatMap((cell) => {
                const repeat = Math.min(Number(cell.attribs['table:number-columns-repeated'] ?? 1) || 1, 64);
                const text = cleanText(
                  childElements(cell)
                    .map((c) => odfText(c))
                    .join(' '),
                );
                return Array.from({ length: text ? repeat : 1 }, () => text);
              }),
            );
          if (rows.length > 0) blocks.push({ kind: 'table', rows });
          break;
        }
        case 'draw:frame':
          await pictureBlocks(child);
          break;
        case 'text:section':
        case 'text:soft-page-break':
        case 'text:index-body':
        case 'text:table-of-content':
          await walk(childElements(child));
          break;
        default:
          break;
      }
    }
  };
  const body = $('office\\:body > office\\:text')[0];
  if (!body) {
    throw new MmragError(
      `${file}: content.xml has no text body, so this is not a text document`,
      undefined,
      'bad_file',
    );
  }
  await walk(childElements(body));
  return blocks;
}

/** Word-processing documents: .docx (Office Open XML, through mammoth) and .odt (OpenDocument text). */
export class DocxLoader implements Loader {
  readonly type = 'docx' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    const file = input.path;
    const zip = await openZipSafely(input.bytes, ctx.limits, file);
    const mimetype = await odfMimetype(zip, file);
    if (mimetype?.startsWith('application/vnd.oasis.opendocument.text')) {
      const title = await documentTitle(zip, 'meta.xml', ctx.limits.maxArchiveBytes, file);
      return itemsFromBlocks(await odtBlocks(zip, file, ctx), title, ctx);
    }
    if (!zip.file('word/document.xml')) {
      throw new MmragError(
        `${file}: not a Word document (no word/document.xml${mimetype ? `; it is ${mimetype}` : ''})`,
        'Check that the file really is a .docx or .odt.',
        'bad_file',
      );
    }
    // mammoth inflates with its own unbounded zip reader: make sure the real sizes match the limits first.
    await verifyZipExpansion(zip, ctx.limits, file);
    const title = await documentTitle(zip, 'docProps/core.xml', ctx.limits.maxArchiveBytes, file);
    return itemsFromBlocks(await docxBlocks(input.bytes, file), title, ctx);
  }
}
