// The library API: `import { KnowledgeBase } from 'mmrag'`. Everything a program needs to open a knowledge base,
// ingest, search, ask and plug in its own parts (store, media store, embedder, loaders, LLM). See docs/library.md.
export type { Config, ConfigInput } from './config.js';
export { ConfigSchema, DEFAULT_EMBED_MODEL, parseConfig, redactConfig, resolveConfig } from './config.js';
export { loadClipEmbedder } from './embed/clip.js';
export type { Embedder, RgbImage, TextEmbedder } from './embed/embedder.js';
export { MmragError } from './errors.js';
export type { AnswerOptions, AskError } from './generate/answer.js';
export type { ChatImage, ChatMessage, ChatRequest, LanguageModel } from './generate/llm.js';
export type { Loader, LoaderContext, LoaderInput, LoaderLimits } from './ingest/loader.js';
export type { FileOutcome, FileStatus, IngestEvent, IngestSummary } from './ingest/pipeline.js';
export { LOADERS, type LoaderEntry, LoaderRegistry } from './ingest/registry.js';
export type { IngestRunOptions } from './ingest/session.js';
export type {
  AskOptions,
  AskResult,
  KbStats,
  KnowledgeBaseParts,
  OpenKnowledgeBaseOptions,
  SearchOptions,
  SearchQuery,
} from './kb.js';
export { KnowledgeBase, openKnowledgeBase } from './kb.js';
export { formatLocation } from './location.js';
export type { AdapterInfo } from './retrieve/query-adapter.js';
export type { KbManifest } from './store/manifest.js';
export type { MediaStore } from './store/media-store.js';
export type { Store, StoreRow, VectorColumn, VectorSet } from './store/store.js';
export type * from './types.js';
export { cosineSearch, referenceSimilaritySearch, softmaxSearch } from './vector/similarity.js';
