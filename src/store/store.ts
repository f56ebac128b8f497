import type { Modality, SourceRecord, StoredItem } from '../types.js';

/** An item ready to be written: metadata, the live version it belongs to, and its L2-normalised vector. */
export interface StoreRow extends StoredItem {
  version: string;
  /** The item in the shared CLIP space (text through the text tower, pictures through the vision tower). */
  vector: Float32Array;
  /** The item's text form through the text embedder (levels 1 and 2, and text-to-text retrieval). */
  textVector: Float32Array;
}

/** Which vector of an item to search. */
export type VectorColumn = 'vector' | 'text_vector';

/** A full-text (BM25) match. */
export interface TextMatch {
  id: string;
  score: number;
}

/** Every live vector of one modality, row-major, with the id of each row. */
export interface VectorSet {
  ids: string[];
  /** `ids.length * dim` floats. */
  matrix: Float32Array;
  dim: number;
}

/**
 * Where items and their vectors live. A source's items are replaced atomically: `commit` appends the new rows,
 * then makes the new versions live in one step, then drops the old rows; a crash in between leaves the previous
 * version live and the new rows unreferenced (cleaned up on the next write).
 */
export interface Store {
  /** Vector width, once known (after the first write). */
  readonly dim: number | undefined;
  /** Width of the text-form vectors. */
  readonly textDim: number | undefined;
  listSources(): Promise<SourceRecord[]>;
  getSource(source: string): Promise<SourceRecord | undefined>;
  commit(records: SourceRecord[], rows: StoreRow[]): Promise<void>;
  /** Remove sources and their items; returns how many items went. */
  deleteSources(sources: string[]): Promise<number>;
  vectors(modality: Modality, column?: VectorColumn): Promise<VectorSet>;
  /** BM25 matches over the items' text (chunks, captions, descriptions), best first. */
  fullTextSearch(query: string, modality: Modality, limit: number): Promise<TextMatch[]>;
  /** Every live item of a modality (metadata only), for filtering. */
  scanItems(modality: Modality): Promise<StoredItem[]>;
  /** Items by id, in the order asked; unknown ids are left out. */
  getItems(ids: string[]): Promise<StoredItem[]>;
  /** Items of one source, in ingest order. */
  itemsOfSource(source: string): Promise<StoredItem[]>;
  /** Bring indexes up to date after writes (the full-text index, compaction). */
  optimize(): Promise<void>;
  close(): Promise<void>;
}
