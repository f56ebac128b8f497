import { basename, extname } from 'node:path';
import type { SourceType } from '../types.js';
import type { Loader } from './loader.js';
import { CODE_EXTENSIONS, CODE_FILE_NAMES, TEXT_EXTENSIONS } from './loaders/text.js';

/** How one file type is recognised and which loader reads it. */
export interface LoaderEntry {
  /** File name extensions that name the type (lower case, with the dot). */
  extensions: readonly string[];
  /** Whole file names that name the type (`Makefile`). */
  fileNames?: readonly string[];
  /**
   * A binary format: its content (magic bytes, see `detect.ts`) must agree with its name, so a `.docx` that is not
   * a zip is reported rather than guessed around.
   */
  binary?: boolean;
  /** The loader, imported on first use: a run over web pages never loads pdf.js, and `mmrag --help` loads none. */
  load: () => Promise<Loader>;
}

/**
 * Every file type mmrag reads, in one table: detected type -> loader. Adding a type is one loader file
 * (`loaders/<type>.ts`, a class implementing `Loader`) plus one entry here; the compiler then asks for the type's
 * name in `SourceType` (src/types.ts), and a test checks that the README's table of types agrees with this one.
 */
export const LOADERS = {
  html: {
    extensions: ['.html', '.htm', '.xhtml'],
    load: async () => new (await import('./loaders/html.js')).HtmlLoader(),
  },
  pdf: {
    extensions: ['.pdf'],
    binary: true,
    load: async () => new (await import('./loaders/pdf.js')).PdfLoader(),
  },
  docx: {
    extensions: ['.docx', '.odt'],
    binary: true,
    load: async () => new (await import('./loaders/docx.js')).DocxLoader(),
  },
  pptx: {
    extensions: ['.pptx', '.odp'],
    binary: true,
    load: async () => new (await import('./loaders/pptx.js')).PptxLoader(),
  },
  xlsx: {
    extensions: ['.xlsx', '.ods'],
    binary: true,
    load: async () => new (await import('./loaders/spreadsheet.js')).SpreadsheetLoader(),
  },
  csv: {
    extensions: ['.csv', '.tsv'],
    load: async () => new (await import('./loaders/csv.js')).CsvLoader(),
  },
  markdown: {
    extensions: ['.md', '.markdown', '.mdx'],
    load: async () => new (await import('./loaders/markdown.js')).MarkdownLoader(),
  },
  text: {
    extensions: [...TEXT_EXTENSIONS, ...CODE_EXTENSIONS],
    fileNames: [...CODE_FILE_NAMES],
    load: async () => new (await import('./loaders/text.js')).TextLoader(),
  },
  json: {
    extensions: ['.json', '.jsonl', '.ndjson'],
    load: async () => new (await import('./loaders/json.js')).JsonLoader(),
  },
  image: {
    extensions: ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp', '.tif', '.tiff', '.avif', '.svg'],
    binary: true,
    load: async () => new (await import('./loaders/image.js')).ImageLoader(),
  },
  audio: {
    extensions: ['.mp3', '.wav', '.m4a', '.ogg', '.oga', '.opus', '.flac', '.aac'],
    binary: true,
    load: async () => new (await import('./loaders/audio.js')).AudioLoader(),
  },
  video: {
    extensions: ['.mp4', '.m4v', '.mov', '.webm', '.mkv', '.avi'],
    binary: true,
    load: async () => new (await import('./loaders/video.js')).VideoLoader(),
  },
  subtitles: {
    extensions: ['.vtt', '.srt'],
    load: async () => new (await import('./loaders/subtitles.js')).SubtitlesLoader(),
  },
} as const satisfies Record<SourceType, LoaderEntry>;

/** The loaders one knowledge base uses: the table above by default, or any subset or extension of it. */
export class LoaderRegistry {
  private readonly byExtension = new Map<string, SourceType>();
  private readonly byFileName = new Map<string, SourceType>();
  private readonly loaded = new Map<SourceType, Promise<Loader>>();

  constructor(private readonly entries: Partial<Record<SourceType, LoaderEntry>> = LOADERS) {
    for (const [type, entry] of Object.entries(entries) as Array<[SourceType, LoaderEntry]>) {
      for (const ext of entry.extensions) this.byExtension.set(ext, type);
      for (const name of entry.fileNames ?? []) this.byFileName.set(name, type);
    }
  }

  /** The types this registry reads. */
  types(): SourceType[] {
    return Object.keys(this.entries) as SourceType[];
  }

  /** The type a file's name gives (undefined: no loader knows the name). */
  typeOfName(path: string): SourceType | undefined {
    return this.byExtension.get(extname(path).toLowerCase()) ?? this.byFileName.get(basename(path));
  }

  extensionsOf(type: SourceType): readonly string[] {
    return this.entries[type]?.extensions ?? [];
  }

  isBinary(type: SourceType): boolean {
    return this.entries[type]?.binary === true;
  }

  /** The loader of a type, loaded once; undefined when this registry has none for it. */
  loader(type: SourceType): Promise<Loader> | undefined {
    const entry = this.entries[type];
    if (!entry) return undefined;
    let loader = this.loaded.get(type);
    if (!loader) {
      loader = entry.load();
      this.loaded.set(type, loader);
      loader.catch(() => this.loaded.delete(type));
    }
    return loader;
  }
}
