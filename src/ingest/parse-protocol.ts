/**
 * The messages between the pipeline and the worker threads that parse files (`parse-pool.ts` on the main side,
 * `parse-worker.ts` in the worker), and the checks both sides share.
 */
import { MmragError } from '../errors.js';
import type { ItemDraft, SourceType } from '../types.js';
import type { LoaderContext, LoaderLimits } from './loader.js';

/** What a worker parses: a file by path (read, hashed and loaded there) or a web page by URL. */
export type ParseSource = { kind: 'file'; path: string; type: SourceType } | { kind: 'url'; url: string };

/** The plain-data part of a `LoaderContext`: what a worker needs to build one of its own. */
export interface LoaderSettings {
  fetchRemote: boolean;
  allowPrivateNetwork: boolean;
  minTextLength: number;
  chunkSize: number;
  chunkOverlap: number;
  remoteTimeoutMs: number;
  limits: LoaderLimits;
  localRoot?: string;
}

export function loaderSettings(context: LoaderContext): LoaderSettings {
  const settings: LoaderSettings = {
    fetchRemote: context.fetchRemote,
    allowPrivateNetwork: context.allowPrivateNetwork,
    minTextLength: context.minTextLength,
    chunkSize: context.chunkSize,
    chunkOverlap: context.chunkOverlap,
    remoteTimeoutMs: context.remoteTimeoutMs,
    limits: { ...context.limits },
  };
  if (context.localRoot !== undefined) settings.localRoot = context.localRoot;
  return settings;
}

/** An error as it crosses between threads: enough to rebuild the `MmragError` (or abort) it was. */
export interface SerializedError {
  name: string;
  message: string;
  hint?: string;
  code?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof MmragError) {
    const out: SerializedError = { name: err.name, message: err.message, code: err.code };
    if (err.hint !== undefined) out.hint = err.hint;
    return out;
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

export function deserializeError(error: SerializedError): Error {
  if (error.code !== undefined) return new MmragError(error.message, error.hint, error.code);
  const out = new Error(error.message);
  out.name = error.name;
  return out;
}

/** Main thread -> worker. */
export type ToWorker =
  | {
      kind: 'parse';
      id: number;
      source: ParseSource;
      settings: LoaderSettings;
      /** Which services the main thread offers for this job (OCR, transcription with its model id). */
      services: { ocr: boolean; transcriber?: string };
      maxFileBytes: number;
    }
  | { kind: 'abort'; id: number }
  | { kind: 'reply'; call: number; ok: true; value: unknown }
  | { kind: 'reply'; call: number; ok: false; error: SerializedError };

/** A service the worker asks the main thread for. */
export type ServiceCall =
  | { service: 'ocr'; image: Uint8Array }
  | { service: 'transcribe'; samples: Float32Array };

/** Worker -> main thread. */
export type FromWorker =
  | { kind: 'warn'; id: number; message: string }
  | ({ kind: 'call'; id: number; call: number } & ServiceCall)
  | {
      kind: 'done';
      id: number;
      drafts: ItemDraft[];
      /** SHA-256 of the bytes parsed (files only). */
      hash?: string;
      bytes: number;
      heapUsed: number;
    }
  | { kind: 'failed'; id: number; error: SerializedError; heapUsed: number };

/**
 * The buffers of a result that can move to the other thread instead of being copied: each picture's bytes (and
 * decoded pixels) get a buffer of their own, so that moving it detaches nothing else, and a picture referred to by
 * many drafts is moved once.
 */
export function transferablePictures(drafts: ItemDraft[]): ArrayBuffer[] {
  const owned = new Map<Uint8Array, Uint8Array>();
  const own = (view: Uint8Array): Uint8Array => {
    let copy = owned.get(view);
    if (!copy) {
      copy = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view : view.slice();
      owned.set(view, copy);
    }
    return copy;
  };
  for (const draft of drafts) {
    if (draft.modality !== 'image') continue;
    draft.picture.bytes = own(draft.picture.bytes);
    if (draft.picture.decoded) draft.picture.decoded.data = own(draft.picture.decoded.data);
  }
  const buffers = new Set<ArrayBuffer>();
  for (const view of owned.values()) if (view.buffer instanceof ArrayBuffer) buffers.add(view.buffer);
  return [...buffers];
}

/**
 * What one file may produce: at most `maxItems` items and `maxTextChars` characters of text (chunks and captions).
 * An office file of 22 KB listing one slide 200 times gave 521,800 items; the limits stop any such amplification
 * whatever the format, after the loader and before anything is embedded or sent across threads.
 */
export function checkOutput(drafts: ItemDraft[], limits: LoaderLimits, file: string): void {
  if (drafts.length > limits.maxItems) {
    throw new MmragError(
      `${file}: refused: it gives ${drafts.length} items, over the limit of ${limits.maxItems} (ingest.maxItems)`,
      'Raise ingest.maxItems if the file is genuine, or split it.',
      'too_large',
    );
  }
  let chars = 0;
  for (const draft of drafts) chars += draft.modality === 'text' ? draft.text.length : draft.caption.length;
  if (chars > limits.maxTextChars) {
    throw new MmragError(
      `${file}: refused: it gives ${chars} characters of text, over the limit of ${limits.maxTextChars} (ingest.maxTextChars)`,
      'Raise ingest.maxTextChars if the file is genuine, or split it.',
      'too_large',
    );
  }
}
