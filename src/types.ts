/** 1: text forms only, no pictures anywhere; 2: text forms, pictures for the LLM; 3: CLIP space for both. */
export type Level = 1 | 2 | 3;

/** The two kinds of item a knowledge base holds; each is searched separately. */
export type Modality = 'text' | 'image';

/** Which loader produced an item (and so how to read its `location`). */
export type SourceType =
  | 'html'
  | 'pdf'
  | 'docx'
  | 'pptx'
  | 'xlsx'
  | 'csv'
  | 'markdown'
  | 'text'
  | 'json'
  | 'image'
  | 'audio'
  | 'video'
  | 'subtitles';

/**
 * What an item is, as its `type` says: the loader that read its source, or `page` for a PDF page or a slide rendered
 * whole to a picture (its source record keeps the loader's type: `pdf` or `pptx`). `page` is not a file type.
 */
export type ItemType = SourceType | 'page';

/** A rectangle on a page or picture: `[x0, y0, x1, y1]` as fractions of its width and height, origin top left. */
export type Box = [number, number, number, number];

/** Where inside its source an item sits, precise enough to cite. */
export interface Location {
  /** 1-based PDF page. */
  page?: number;
  /**
   * Where on the page (PDF text and pictures, and the text read from a scanned page): one box per line of a text
   * chunk, one box for a picture.
   */
  boxes?: Box[];
  /** 1-based slide. */
  slide?: number;
  sheet?: string;
  /** 1-based spreadsheet rows, first and last (header = row 1). */
  rows?: [number, number];
  /** Seconds from the start of a recording. */
  start?: number;
  end?: number;
}

/** A picture as a loader found it: the bytes, not yet stored or embedded. */
export interface Picture {
  bytes: Uint8Array;
  /** MIME type when known (`image/png`); detected from the bytes otherwise. */
  mime?: string;
  /** Where the loader found it (a path, URL or `data:` prefix), for messages only. */
  origin: string;
  /** The local file it was read from (absolute), when it is one: the file then belongs to the document. */
  file?: string;
  /**
   * The picture already decoded for embedding (RGB, at most EMBED_MAX_SIDE on the longer side), when the loader
   * had to decode it anyway: the pipeline then does not decode it a second time.
   */
  decoded?: { data: Uint8Array; width: number; height: number };
}

export interface TextItemDraft {
  modality: 'text';
  title: string;
  section: string;
  text: string;
  location?: Location;
}

export interface ImageItemDraft {
  modality: 'image';
  /** `page`: a whole page or slide rendered to a picture (stored with `type: 'page'`). */
  kind?: 'page';
  title: string;
  section: string;
  caption: string;
  picture: Picture;
  location?: Location;
}

/** What a loader returns: items without ids, vectors or stored media. */
export type ItemDraft = TextItemDraft | ImageItemDraft;

/** An item as the knowledge base keeps it (without its vector). */
export interface StoredItem {
  id: string;
  modality: Modality;
  type: ItemType;
  source: string;
  title: string;
  section: string;
  /** The chunk's text (text items) or the caption (image items). */
  text: string;
  /** Path of the stored picture, relative to the knowledge base's media folder (image items). */
  media?: string;
  /** A multimodal LLM's description of the picture, when captioning was on at ingest (image items). */
  description?: string;
  location?: Location;
  /** Milliseconds since the epoch. */
  ingestedAt: number;
}

/** One search result, as `search --json` prints it. */
export interface Hit {
  id: string;
  modality: Modality;
  /** The score the threshold was applied to (softmax probability, or cosine similarity). */
  score: number;
  /** The raw dot product of the query vector and the item vector. */
  similarity: number;
  title: string;
  section: string;
  source: string;
  type: ItemType;
  location?: Location;
  /** Text hits: the snippet. */
  text?: string;
  /** Image hits: the caption. */
  caption?: string;
  /** Image hits: a readable path of the stored picture. */
  image?: string;
  /** Image hits: the MLLM description made at ingest, when there is one. */
  description?: string;
  /** How each retriever scored this hit (present for hybrid, BM25 and reranked searches). */
  scores?: { vector?: number; bm25?: number; rerank?: number };
  /**
   * The score a person can read, with its kind: the reranker's, else that of the ranking that placed the hit
   * highest (`score` may be a fused rank score, which only orders hits).
   */
  relevance?: Relevance;
}

/** A hit's readable score: a cosine, a softmax probability, a BM25 score, a reranker score, or a fused score. */
export interface Relevance {
  kind: 'cosine' | 'softmax' | 'bm25' | 'rerank' | 'fused';
  value: number;
}

export interface SearchResult {
  query: string;
  text: Hit[];
  images: Hit[];
  /** The level that answered: 1 (text forms, no pictures), 2 (text forms, pictures for the LLM), 3 (CLIP space). */
  level?: Level;
  /** How the lists were produced: `vector` (one scoring), `bm25`, or `hybrid` (fused). */
  mode?: 'vector' | 'bm25' | 'hybrid';
  /** With `judge`: whether the documents can answer the query, and the evidence weighed. */
  answerability?: Answerability;
}

/** The answerability gate's verdict on a query (`src/retrieve/gate.ts`). */
export interface Answerability {
  answerable: boolean;
  /** Which evidence cleared its floor (empty when none did), e.g. `image.vector`, `text.bm25`. */
  because: Array<`${'text' | 'image'}.${'vector' | 'bm25'}`>;
  /** The best vector (cosine) and BM25 score per modality. */
  evidence: { text: { vector?: number; bm25?: number }; image: { vector?: number; bm25?: number } };
  /** The scores unrelated probe questions do not exceed in this knowledge base. */
  floors: {
    text: { vector: number; bm25: number };
    image: { vector: number; bm25: number };
    probes: number;
  };
}

/** One ingested file, as `mmrag sources` lists it. */
export interface SourceRecord {
  source: string;
  type: SourceType;
  /** sha256 of the file's bytes. */
  hash: string;
  /** Ingest generation: only items carrying this version are live. */
  version: string;
  items: number;
  textItems: number;
  imageItems: number;
  bytes: number;
  ingestedAt: number;
  /**
   * Local files the source took in as its own (a page's pictures): a folder walk does not ingest them again as
   * sources of their own while this source is in the knowledge base.
   */
  includes?: string[];
}

/** What `mmrag doctor` and the API's stats say about a knowledge base. */
export interface KbStats {
  dir: string;
  embedModel: string | undefined;
  dim: number | undefined;
  sources: number;
  textItems: number;
  imageItems: number;
}
