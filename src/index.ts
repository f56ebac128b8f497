export type { Config, ConfigInput } from './config.js';
export { ConfigSchema, DEFAULT_EMBED_MODEL, parseConfig, redactConfig, resolveConfig } from './config.js';
export { loadClipEmbedder } from './embed/clip.js';
export type { Embedder, RgbImage } from './embed/embedder.js';
export { MmragError } from './errors.js';
export type { ChatImage, ChatMessage, ChatRequest, LanguageModel } from './generate/llm.js';
export type { Loader, LoaderContext, LoaderInput } from './ingest/loader.js';
export type { FileOutcome, IngestEvent, IngestSummary } from './ingest/pipeline.js';
export type {
  AskOptions,
  AskResult,
  KbStats,
  KnowledgeBase,
  OpenKnowledgeBaseOptions,
  SearchOptions,
  SearchQuery,
} from './kb.js';
export { openKnowledgeBase } from './kb.js';
export type { Store } from './store/store.js';
export type { AdapterInfo } from './tune/adapter-file.js';
export type { TuneEvent, TuneOptions, TuneReport } from './tune/run.js';
export type * from './types.js';
export { cosineSearch, referenceSimilaritySearch, softmaxSearch } from './vector/similarity.js';
