import type { Modality, SourceRecord, StoredItem } from '../types.js';
import type { VectorMatrix } from '../vector/matrix.js';
import type { KbManifest } from './manifest.js';

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
  /** The same rows resident in WebAssembly memory (a store's cache): scanned in place, no copy per query. */
  resident?: VectorMatrix;
}

/** Settings of the approximate nearest-neighbour index (the `search.ann` configuration). */
export interface AnnSettings {
  enabled: boolean;
  /** Live items of one modality from which its vector searches use the index. */
  threshold: number;
  columns: VectorColumn[];
  /** HNSW search breadth. */
  ef: number;
  /** Candidates fetched per wanted hit, re-scored exactly. */
  refine: number;
  /** Filtered queries allowing fewer than this fraction of the indexed rows are searched exactly. */
  exactBelowFraction: number;
}

export const DEFAULT_ANN_SETTINGS: AnnSettings = {
  enabled: true,
  threshold: 50_000,
  columns: ['vector'],
  ef: 80,
  refine: 2,
  exactBelowFraction: 0.05,
};

/** A nearest-neighbour query over the live items of one modality. */
export interface NearestRequest {
  modality: Modality;
  column: VectorColumn;
  query: Float32Array;
  /** Hits wanted. */
  limit: number;
  /** Only these item ids may be returned (a filter); undefined: every live item. */
  allowed?: Set<string>;
}

/** Index hits, best first, each re-scored exactly (dot product with its full vector). */
export interface NearestHits {
  ids: string[];
  dots: Float32Array;
  /** The hits' full vectors, row-major (`ids.length * dim`), for diversity (MMR). */
  vectors: Float32Array;
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
  /**
   * The nearest live items by the ANN index, or undefined when this search must be exact: no index on the column,
   * the modality below the index threshold, a filter too selective for the index, or too few hits found.
   */
  nearest?(request: NearestRequest): Promise<NearestHits | undefined>;
  /** Live items' vectors by id (unknown or superseded ids are left out). */
  vectorsOf?(ids: string[], column: VectorColumn): Promise<Map<string, Float32Array>>;
  /** Bring indexes up to date after writes (the full-text index, the ANN index, compaction). */
  optimize(): Promise<void>;
  /** Pick up what other processes wrote since this handle last looked. */
  refresh(): Promise<void>;
  /** Under the write lock, before writing: drop rows no live version names (left by a crash). */
  removeOrphans(): Promise<number>;
  /** What the knowledge base remembers about itself (`kb.json`); undefined before the first item is stored. */
  readManifest(): Promise<KbManifest | undefined>;
  writeManifest(manifest: KbManifest): Promise<void>;
  /**
   * Small named documents kept with the knowledge base (the answerability gate's calibration, a query adapter):
   * `name` is a plain file name (`gate.json`); undefined when there is none.
   */
  readText(name: string): Promise<string | undefined>;
  writeText(name: string, text: string): Promise<void>;
  /**
   * Take the knowledge base's write lock: one writer at a time; searches never wait. Resolves to the function that
   * releases it; refuses with `kb_locked` while another writer holds it.
   */
  lockWrites(): Promise<() => void>;
  close(): Promise<void>;
}
