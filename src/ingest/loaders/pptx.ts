import { extname, posix } from 'node:path';
import type { Element } from 'domhandler';
import type JSZip from 'jszip';
import { errorMessage, MmragError } from '../../errors.js';
import type { ImageItemDraft, ItemDraft } from '../../types.js';
import { chunkText } from '../chunk.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { splitTable, tableChunkChars } from '../tables.js';
import { openZipSafely, readZipBytes, readZipText, requireZipText } from '../zip.js';
import {
  childElements,
  descendants,
  documentTitle,
  loadXml,
  NO_CAPTION,
  odfMimetype,
  odfText,
  officePicture,
} from './docx.js';
import { pageCaption, renderPdfPages } from './pdf.js';

/** One slide as read from the file, before it becomes items. */
export interface SlideContent {
  title: string;
  /** Body paragraphs in reading order. */
  paragraphs: string[];
  tables: string[][][];
  pictures: Array<{ bytes: Uint8Array; alt: string; origin: string }>;
  notes: string;
}

export const NOTES_PREFIX = 'Speaker notes: ';

/** Placeholders of a notes page that are not the notes: the slide's image, header, footer, date, number. */
const NOTES_PAGE_FURNITURE = new Set(['sldImg', 'hdr', 'ftr', 'dt', 'sldNum']);

function clean(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * Items of one slide (1-based `n`): section = its title (or "Slide n"); body paragraphs merged and
 * chunked; tables as Markdown; pictures with their alt text; speaker notes as text items that start
 * with "Speaker notes: ". A slide with a title and nothing else still gets one text item (its title).
 */
export function slideItems(
  slide: SlideContent,
  n: number,
  title: string,
  ctx: Pick<LoaderContext, 'chunkSize' | 'chunkOverlap' | 'limits' | 'warn'>,
): ItemDraft[] {
  const section = slide.title || `Slide ${n}`;
  const location = { slide: n };
  const items: ItemDraft[] = [];
  const body = chunkText(slide.paragraphs.join('\n'), ctx.chunkSize, ctx.chunkOverlap);
  if (body.length === 0 && slide.title && slide.tables.length === 0) body.push(slide.title);
  for (const text of body) items.push({ modality: 'text', title, section, text, location });
  for (const rows of slide.tables) {
    const [header = [], ...data] = rows;
    for (const group of splitTable(header, data, { maxChars: tableChunkChars(ctx.chunkSize), firstRow: 2 })) {
      items.push({ modality: 'text', title, section, text: group.markdown, location });
    }
  }
  for (const embedded of slide.pictures) {
    const picture = officePicture(embedded.bytes, embedded.origin, ctx);
    if (picture)
      items.push({
        modality: 'image',
        title,
        section,
        caption: embedded.alt || NO_CAPTION,
        picture,
        location,
      });
  }
  const noteSize = Math.max(32, ctx.chunkSize - NOTES_PREFIX.length);
  for (const text of chunkText(slide.notes, noteSize, ctx.chunkOverlap)) {
    items.push({ modality: 'text', title, section, text: `${NOTES_PREFIX}${text}`, location });
  }
  return items;
}

// ---------- .pptx ----------

interface Relationship {
  type: string;
  /** Resolved part name inside the package (no leading slash), or the raw target when external. */
  target: string;
  external: boolean;
}

/** The rels file of a part: `ppt/slides/slide1.xml` -> `ppt/slides/_rels/slide1.xml.rels`. */
function relsPath(part: string): string {
  return posix.join(posix.dirname(part), '_rels', `${posix.basename(part)}.rels`);
}

async function readRelationships(
  zip: JSZip,
  part: string,
  maxBytes: number,
  file: string,
): Promise<Map<string, Relationship>> {
  const rels = new Map<string, Relationship>();
  const xml = await readZipText(zip, relsPath(part), maxBytes, file);
  if (!xml) return rels;
  const $ = await loadXml(xml);
  $('Relationship').each((_, el) => {
    const id = el.attribs.Id;
    const target = el.attribs.Target ?? '';
    if (!id) return;
    const external = el.attribs.TargetMode === 'External';
    const resolved = external
      ? target
      : target.startsWith('/')
        ? target.slice(1)
        : posix.normalize(posix.join(posix.dirname(part), target));
    rels.set(id, { type: el.attribs.Type ?? '', target: resolved, external });
  });
  return rels;
}

function paragraphTexts(container: Element): string[] {
  return descendants(container, 'a:p')
    .map((p) =>
      clean(
        descendants(p, 'a:t')
          .map((t) => t.children.map((c) => ('data' in c ? c.data : '')).join(''))
          .join(''),
      ),
    )
    .filter((t) => t.length > 0);
}

async function readPptxSlide(
  zip: JSZip,
  part: string,
  file: string,
  n: number,
  ctx: LoaderContext,
): Promise<SlideContent> {
  const xml = await requireZipText(zip, part, ctx.limits.maxArchiveBytes, file);
  const rels = await readRelationships(zip, part, ctx.limits.maxArchiveBytes, file);
  const $ = await loadXml(xml);
  const slide: SlideContent = { title: '', paragraphs: [], tables: [], pictures: [], notes: '' };

  const walk = async (nodes: Element[]) => {
    for (const node of nodes) {
      if (node.name === 'p:sp') {
        const ph = descendants(node, 'p:ph')[0]?.attribs.type;
        const texts = paragraphTexts(node);
        if ((ph === 'title' || ph === 'ctrTitle') && !slide.title) slide.title = texts.join(' ');
        else if (ph !== 'sldNum' && ph !== 'dt' && ph !== 'ftr') slide.paragraphs.push(...texts);
      } else if (node.name === 'p:graphicFrame') {
        for (const table of descendants(node, 'a:tbl')) {
          slide.tables.push(
            childElements(table, 'a:tr').map((tr) =>
              childElements(tr, 'a:tc').map((tc) => paragraphTexts(tc).join(' ')),
            ),
          );
        }
      } else if (node.name === 'p:pic') {
        const alt = clean(descendants(node, 'p:cNvPr')[0]?.attribs.descr ?? '');
        const embed = descendants(node, 'a:blip')[0]?.attribs['r:embed'];
        const rel = embed ? rels.get(embed) : undefined;
        if (!rel || rel.external) {
          if (embed) ctx.warn(`${file}: slide ${n}: a linked (not embedded) picture was skipped`);
          continue;
        }
        const bytes = await readZipBytes(zip, rel.target, ctx.limits.maxImageBytes, file);
        if (bytes) slide.pictures.push({ bytes, alt, origin: `${file} (slide ${n}, ${rel.target})` });
        else ctx.warn(`${file}: slide ${n}: picture ${rel.target} is referenced but missing`);
      } else if (
        node.name === 'p:grpSp' ||
        node.name === 'mc:AlternateContent' ||
        node.name === 'mc:Choice'
      ) {
        await walk(childElements(node));
      }
    }
  };
  const tree = $('p\\:cSld > p\\:spTree')[0];
  if (tree) await walk(childElements(tree));

  const notesRel = [...rels.values()].find((r) => r.type.endsWith('/notesSlide') && !r.external);
  if (notesRel) {
    const notesXml = await readZipText(zip, notesRel.target, ctx.limits.maxArchiveBytes, file);
    if (notesXml) {
      const notes = await loadXml(notesXml);
      const lines: string[] = [];
      // The notes are every text shape of the notes page but its furniture: PowerPoint writes them in the body
      // placeholder, LibreOffice Impress in a plain text box (no placeholder at all).
      notes('p\\:sp').each((_, sp) => {
        const placeholder = descendants(sp, 'p:ph')[0]?.attribs.type;
        if (placeholder === undefined || !NOTES_PAGE_FURNITURE.has(placeholder))
          lines.push(...paragraphTexts(sp));
      });
      slide.notes = lines.join('\n');
    }
  }
  return slide;
}

async function pptxSlides(zip: JSZip, file: string, ctx: LoaderContext): Promise<SlideContent[]> {
  const presentation = 'ppt/presentation.xml';
  const xml = await readZipText(zip, presentation, ctx.limits.maxArchiveBytes, file);
  if (xml === undefined) {
    throw new MmragError(
      `${file}: not a PowerPoint presentation (no ppt/presentation.xml)`,
      'Check that the file really is a .pptx or .odp.',
      'bad_file',
    );
  }
  const rels = await readRelationships(zip, presentation, ctx.limits.maxArchiveBytes, file);
  const $ = await loadXml(xml);
  const parts = $('p\\:sldIdLst > p\\:sldId')
    .toArray()
    .map((el) => rels.get(el.attribs['r:id'] ?? '')?.target)
    .filter((t): t is string => t !== undefined);
  if (parts.length > ctx.limits.maxPages) {
    throw new MmragError(
      `${file}: ${parts.length} slides, over the limit of ${ctx.limits.maxPages}`,
      'Raise ingest.maxPages if the file is genuine.',
      'too_large',
    );
  }
  const slides: SlideContent[] = [];
  for (const [i, part] of parts.entries()) slides.push(await readPptxSlide(zip, part, file, i + 1, ctx));
  return slides;
}

// ---------- .odp ----------

async function odpSlides(zip: JSZip, file: string, ctx: LoaderContext): Promise<SlideContent[]> {
  const xml = await requireZipText(zip, 'content.xml', ctx.limits.maxArchiveBytes, file);
  const $ = await loadXml(xml);
  const pages = $('office\\:presentation > draw\\:page').toArray();
  if (pages.length > ctx.limits.maxPages) {
    throw new MmragError(
      `${file}: ${pages.length} slides, over the limit of ${ctx.limits.maxPages}`,
      'Raise ingest.maxPages if the file is genuine.',
      'too_large',
    );
  }
  const slides: SlideContent[] = [];
  for (const [i, page] of pages.entries()) {
    const n = i + 1;
    const slide: SlideContent = { title: '', paragraphs: [], tables: [], pictures: [], notes: '' };
    const paragraphs = (el: Element) =>
      descendants(el, 'text:p')
        .map((p) => clean(odfText(p)))
        .filter((t) => t.length > 0);
    const walk = async (nodes: Element[]) => {
      for (const node of nodes) {
        if (node.name === 'presentation:notes') {
          slide.notes = paragraphs(node).join('\n');
        } else if (node.name === 'draw:g') {
          await walk(childElements(node));
        } else if (node.name === 'draw:frame') {
          const kind = node.attribs['presentation:class'];
          if (kind === 'title' && !slide.title) {
            slide.title = paragraphs(node).join(' ');
            continue;
          }
          for (const table of childElements(node, 'table:table')) {
            slide.tables.push(
              descendants(table, 'table:table-row').map((row) =>
                childElements(row, 'table:table-cell').map((cell) => paragraphs(cell).join(' ')),
              ),
            );
          }
          for (const box of childElements(node, 'draw:text-box')) slide.paragraphs.push(...paragraphs(box));
          const alt = clean(
            childElements(node)
              .filter((c) => c.name === 'svg:title' || c.name === 'svg:desc')
              .map((c) => $(c).text())
              .join(' '),
          );
          for (const image of childElements(node, 'draw:image')) {
            const href = (image.attribs['xlink:href'] ?? '').replace(/^\.\//, '');
            if (!href || /^[a-z]+:/i.test(href)) continue;
            const bytes = await readZipBytes(zip, href, ctx.limits.maxImageBytes, file);
            if (bytes) slide.pictures.push({ bytes, alt, origin: `${file} (slide ${n}, ${href})` });
            else ctx.warn(`${file}: slide ${n}: picture ${href} is referenced but missing`);
          }
        } else if (node.name.startsWith('draw:')) {
          slide.paragraphs.push(...paragraphs(node));
        }
      }
    };
    await walk(childElements(page));
    slides.push(slide);
  }
  return slides;
}

/** Presentations: .pptx (slides in presentation order, notes, pictures) and .odp. */
export class PptxLoader implements Loader {
  readonly type = 'pptx' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<ItemDraft[]> {
    const file = input.path;
    const zip = await openZipSafely(input.bytes, ctx.limits, file);
    const mimetype = await odfMimetype(zip, file);
    const isOdp = mimetype?.startsWith('application/vnd.oasis.opendocument.presentation') ?? false;
    const slides = isOdp ? await odpSlides(zip, file, ctx) : await pptxSlides(zip, file, ctx);
    const title = await documentTitle(
      zip,
      isOdp ? 'meta.xml' : 'docProps/core.xml',
      ctx.limits.maxArchiveBytes,
      file,
    );
    const items = slides.flatMap((slide, i) => slideItems(slide, i + 1, title, ctx));
    items.push(...(await slidePictures(input, isOdp, slides, title, ctx)));
    return items;
  }
}

/**
 * The slides drawn whole as `page` pictures, when LibreOffice is installed: the deck converted to PDF by `soffice`,
 * then its first `limits.maxPageImages` pages drawn like a PDF's. Without LibreOffice, or when it fails, the slides
 * keep their text and embedded pictures only (the pipeline says once per run that LibreOffice is missing).
 */
async function slidePictures(
  input: LoaderInput,
  isOdp: boolean,
  slides: SlideContent[],
  title: string,
  ctx: LoaderContext,
): Promise<ImageItemDraft[]> {
  const count = Math.min(slides.length, ctx.limits.maxPageImages);
  if (count === 0) return [];
  const { convertPresentationToPdf, sofficeOnPath } = await import('../../media/soffice.js');
  if (!(await sofficeOnPath())) return [];
  const file = input.path;
  try {
    const extension = extname(file).slice(1).toLowerCase() || (isOdp ? 'odp' : 'pptx');
    const pdf = await convertPresentationToPdf(input.bytes, {
      extension,
      name: file,
      signal: ctx.signal,
      maxOutputBytes: ctx.limits.maxArchiveBytes,
    });
    const { pages, total } = await renderPdfPages(pdf, count, file, ctx);
    if (total !== slides.length) {
      ctx.warn(
        `${file}: the slides were not kept as pictures: LibreOffice drew ${total} pages for ${slides.length} slides`,
      );
      return [];
    }
    if (slides.length > count) {
      ctx.warn(
        `${file}: slides ${count + 1}-${slides.length} were not kept as pictures (ingest.maxPageImages is ${ctx.limits.maxPageImages})`,
      );
    }
    return pages.map(({ n, png, text }) => ({
      modality: 'image',
      kind: 'page',
      title,
      section: slides[n - 1]?.title || `Slide ${n}`,
      caption: pageCaption(text, `Slide ${n} of ${title}`),
      picture: { bytes: png, mime: 'image/png', origin: `${file}#slide=${n}` },
      location: { slide: n },
    }));
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    ctx.warn(`${file}: the slides were not kept as pictures: ${errorMessage(err)}`);
    return [];
  }
}
