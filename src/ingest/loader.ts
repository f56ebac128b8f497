import type { OcrEngine, Transcriber } from '../enrich/types.js';
import type { ItemDraft, SourceType } from '../types.js';

/** Bounds every loader enforces; exceeding one fails the file with a clear reason. */
export interface LoaderLimits {
  maxImageBytes: number;
  /** Decoded pixels (width x height) of one picture. */
  maxImagePixels: number;
  maxPages: number;
  /** Pages (or slides) of one file rendered whole as `page` pictures; 0: none (scans still are). */
  maxPageImages: number;
  /** Seconds of audio or video. */
  maxDurationSeconds: number;
  /** Total uncompressed bytes inside a zip-based file (docx, xlsx, pptx, odt, ...). */
  maxArchiveBytes: number;
  /** Largest ratio of uncompressed to compressed size inside a zip-based file. */
  maxArchiveRatio: number;
  /** Inflated bytes of one XML part of a zip-based file, or of one PDF stream that is not a picture. */
  maxPartBytes: number;
  /** Times one part of a zip-based file may be read as content. */
  maxPartReferences: number;
  /** Characters of text one file may produce, over all its items. */
  maxTextChars: number;
  /** Items one file may produce. */
  maxItems: number;
  /** Nesting depth of HTML and XML elements. */
  maxNestingDepth: number;
}

/** Limits and services every loader may use. */
export interface LoaderContext {
  /** Download `http(s)` resources (remote images) when the network allows. */
  fetchRemote: boolean;
  /** Fetch from loopback/private/link-local addresses too. */
  allowPrivateNetwork: boolean;
  /** Minimum length of a text block worth keeping (the reference: 30 characters). */
  minTextLength: number;
  chunkSize: number;
  /** Fraction of a chunk repeated at the start of the next one. */
  chunkOverlap: number;
  remoteTimeoutMs: number;
  limits: LoaderLimits;
  /**
   * When set (files uploaded to the server), local files a document refers to (its pictures) are read only from
   * inside this folder: an uploaded page cannot pull other files of the machine into the knowledge base.
   */
  localRoot?: string;
  /** Present when OCR is enabled. */
  ocr?: OcrEngine;
  /** Present when transcription is enabled. */
  transcriber?: Transcriber;
  /** Report a problem that did not stop the file (e.g. one image that could not be read). */
  warn(message: string): void;
  signal?: AbortSignal;
}

/** A file handed to a loader. */
export interface LoaderInput {
  /** Absolute path of the file (or the URL for web pages fetched by URL). */
  path: string;
  bytes: Uint8Array;
}

/** Turns one file into items. It only reads: storing and embedding happen in the pipeline. */
export interface Loader {
  readonly type: SourceType;
  load(input: LoaderInput, context: LoaderContext): Promise<ItemDraft[]>;
}
