import type { SourceType } from '../../types.js';
import type { Loader } from '../loader.js';

/**
 * Which loader reads which type. Loaders are imported on first use so that a run over web pages never loads
 * pdf.js, and `mmrag --help` loads none. Adding a file type is one loader file and one line here.
 */
const REGISTRY: Partial<Record<SourceType, () => Promise<Loader>>> = {
  html: async () => new (await import('./html.js')).HtmlLoader(),
  markdown: async () => new (await import('./markdown.js')).MarkdownLoader(),
  text: async () => new (await import('./text.js')).TextLoader(),
  json: async () => new (await import('./json.js')).JsonLoader(),
  pdf: async () => new (await import('./pdf.js')).PdfLoader(),
  image: async () => new (await import('./image.js')).ImageLoader(),
  docx: async () => new (await import('./docx.js')).DocxLoader(),
  pptx: async () => new (await import('./pptx.js')).PptxLoader(),
  xlsx: async () => new (await import('./spreadsheet.js')).SpreadsheetLoader(),
  csv: async () => new (await import('./csv.js')).CsvLoader(),
  audio: async () => new (await import('./audio.js')).AudioLoader(),
  video: async () => new (await import('./video.js')).VideoLoader(),
  subtitles: async () => new (await import('./subtitles.js')).SubtitlesLoader(),
};

const cache = new Map<SourceType, Promise<Loader>>();

export function hasLoader(type: SourceType): boolean {
  return REGISTRY[type] !== undefined;
}

export function loaderFor(type: SourceType): Promise<Loader> | undefined {
  const make = REGISTRY[type];
  if (!make) return undefined;
  let loader = cache.get(type);
  if (!loader) {
    loader = make();
    cache.set(type, loader);
  }
  return loader;
}

export function supportedTypes(): SourceType[] {
  return Object.keys(REGISTRY) as SourceType[];
}
