import type { Modality, SourceRecord, StoredItem } from '../types.js';

/** An item ready to be written: metadata, the live version it belongs to, and its L2-normalised vector. */
export interface StoreRow extends StoredItem {
  version: string;
  vector: Float32Array;
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
  listSources(): Promise<SourceRecord[]>;
  getSource(source: string): Promise<SourceRecord | undefined>;
  commit(records: SourceRecord[], rows: StoreRow[]): Promise<void>;
  /** Remove sources and their items; returns how many items went. */
  deleteSources(sources: string[]): Promise<number>;
  vectors(modality: Modality): Promise<VectorSet>;
  /** Items by id, in the order asked; unknown ids are left out. */
  getItems(ids: string[]): Promise<StoredItem[]>;
  /** Items of one source, in ingest order. */
  itemsOfSource(source: string): Promise<StoredItem[]>;
  close(): Promise<void>;
}
