import type { ItemDraft, SourceType } from '../types.js';

/** Limits and switches every loader honours. */
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
  maxImageBytes: number;
  remoteTimeoutMs: number;
  /** Report a problem that did not stop the file (e.g. one image that could not be read). */
  warn(message: string): void;
  signal?: AbortSignal;
}

/** A file handed to a loader. */
export interface LoaderInput {
  /** Absolute path of the file. */
  path: string;
  bytes: Uint8Array;
}

/** Turns one file into items. Pure with respect to the store: it only reads. */
export interface Loader {
  readonly type: SourceType;
  load(input: LoaderInput, context: LoaderContext): Promise<ItemDraft[]>;
}
