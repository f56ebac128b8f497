import { join, resolve } from 'node:path';
import { type Config, type ConfigInput, mergeLayers, parseConfig } from './config.js';
import type { Embedder } from './embed/embedder.js';
import { chooseModels, EmbeddingModels } from './embed/models.js';
import {
  type AnswerOptions,
  type AskResult,
  answerFromHits,
  chooseLanguageModel,
} from './generate/answer.js';
import { createPictureDescriber } from './generate/describe.js';
import type { LanguageModel } from './generate/llm.js';
import type { IngestSummary } from './ingest/pipeline.js';
import { LoaderRegistry } from './ingest/registry.js';
import { type IngestRunOptions, removeSource, runIngest } from './ingest/session.js';
import { AnswerabilityGate } from './retrieve/gate.js';
import {
  embedQuery,
  lazyReranker,
  type PlanContext,
  planSearch,
  retrievalText,
  type SearchOptions,
  type SearchQuery,
} from './retrieve/query.js';
import { QueryAdapterSource } from './retrieve/query-adapter.js';
import { type SearchPlan, searchStore } from './retrieve/search.js';
import { type KbManifest, newManifest } from './store/manifest.js';
import { FolderMediaStore, type MediaStore, mimeOfMedia, storedPictureReader } from './store/media-store.js';
import type { Store } from './store/store.js';
import type { KbStats, Level, SearchResult, SourceRecord, StoredItem } from './types.js';

export type { AskError, AskResult } from './generate/answer.js';
export type { SearchOptions, SearchQuery } from './retrieve/query.js';
export type { KbStats } from './types.js';

/** Options of one question: how to retrieve (`SearchOptions`) and how to answer. */
export interface AskOptions extends SearchOptions, AnswerOptions {}

/** The few closest items, whatever their scores: what a question the documents do not answer is shown. */
const CLOSEST: SearchOptions = { text: { k: 3, threshold: -1 }, image: { k: 2, threshold: -1 } };

/** The parts a knowledge base is made of; each is defaulted when not given. */
export interface KnowledgeBaseParts {
  /** Where items and vectors live (default: LanceDB in the knowledge base folder). */
  store?: Store;
  /** Where copies of pictures live (default: the `media` folder of the knowledge base). */
  media?: MediaStore;
  /** The CLIP-family embedder (default: the configured model, loaded on first use). */
  embedder?: Embedder;
  /** Which loader reads which file type (default: every loader mmrag has). */
  loaders?: LoaderRegistry;
  /** The answering model (default: the configured provider; null: never answer, sources only). */
  languageModel?: LanguageModel | null;
}

export interface OpenKnowledgeBaseOptions extends ConfigInput, KnowledgeBaseParts {
  /** A fully resolved configuration (the CLI passes one); the configuration fields are ignored when set. */
  config?: Config;
  /** Progress of model downloads from the hub on first use (percent 0-100 per file). */
  onModelDownload?: (model: string, file: string, percent: number) => void;
}

/**
 * One knowledge base: the facade the CLI, the server, the MCP server and library users share. It composes a
 * store, a media store, the embedding models, the loader registry and an LLM, and delegates: ingest to
 * `ingest/pipeline.ts`, query planning and embedding to `retrieve/query.ts`, ranking to `retrieve/search.ts`,
 * prompting and answering to `generate/answer.ts`. It never holds the write lock longer than one write.
 */
export class KnowledgeBase {
  private readonly planContext: PlanContext;
  private readonly gate: AnswerabilityGate;
  /** The query adapter `mmrag tune` trains (docs/tuning.md): applied to text queries in CLIP space. */
  readonly queryAdapter: QueryAdapterSource;

  private constructor(
    readonly config: Config,
    readonly dir: string,
    /** The embedding models, each loaded on first use. */
    readonly models: EmbeddingModels,
    private readonly parts: Required<Omit<KnowledgeBaseParts, 'embedder' | 'languageModel'>> & {
      llm: LanguageModel | null | undefined;
      manifest: KbManifest | undefined;
    },
  ) {
    this.planContext = {
      reranker: lazyReranker(config.search.rerank, config.embed),
      dedicatedTextSpace: models.textModel !== undefined,
    };
    const plan = (level: Level) => this.plan({ level, rerank: false });
    this.gate = new AnswerabilityGate({ store: parts.store, models, plan });
    const expected = () => ({ embedModel: this.embedModel, dim: parts.store.dim });
    this.queryAdapter = new QueryAdapterSource(dir, expected, () => parts.store.lockWrites());
  }

  static async open(options: OpenKnowledgeBaseOptions = {}): Promise<KnowledgeBase> {
    const { config: given, onModelDownload, store: customStore, media, embedder, loaders, ...rest } = options;
    const { languageModel, ...layer } = rest;
    const config = given ?? parseConfig(mergeLayers(layer as Record<string, unknown>));
    const dir = resolve(config.kb);
    let store = customStore;
    if (!store) {
      const { LanceStore } = await import('./store/lance.js');
      store = await LanceStore.open(dir, { ann: config.search.ann });
    }
    const manifest = await store.readManifest();
    const choice = chooseModels(manifest, config.embed, dir);
    const models = new EmbeddingModels({ ...choice, embed: config.embed, onDownload: onModelDownload });
    if (embedder) models.useEmbedder(embedder);
    return new KnowledgeBase(config, dir, models, {
      store,
      media: media ?? new FolderMediaStore(join(dir, 'media')),
      loaders: loaders ?? new LoaderRegistry(),
      llm: languageModel,
      manifest,
    });
  }

  /** Where the items and vectors live (for tools that work on all of them: `mmrag tune`, exports). */
  get store(): Store {
    return this.parts.store;
  }

  /** The embedding model this knowledge base uses (absolute folder for local models). */
  get embedModel(): string {
    return this.models.embedModel;
  }

  /**
   * Ingest files, folders and web page URLs; unchanged files are skipped, changed ones replaced. Never throws per
   * file. With `prune`, sources inside the given folders whose files are gone are removed too.
   */
  async ingest(paths: string[], options: IngestRunOptions = {}): Promise<IngestSummary> {
    const { store, media, loaders, llm } = this.parts;
    const caption = this.config.ingest.caption;
    const describePicture = caption ? await createPictureDescriber(this.config.llm, llm) : undefined;
    const deps = { store, media, loaders, describePicture, config: this.config, exclude: [this.dir] };
    return runIngest(paths, { ...deps, models: this.models }, options, async () => {
      // The models are pinned once the first vectors are stored (not before: a failed first run pins nothing).
      if (this.parts.manifest?.dim !== undefined || store.dim === undefined) return;
      this.parts.manifest = newManifest(this.models, store.dim, this.parts.manifest);
      await store.writeManifest(this.parts.manifest);
    });
  }

  /** The plan for one query: configuration, then the per-query options. */
  plan(options: SearchOptions = {}): Promise<SearchPlan> {
    return planSearch(this.config.search, options, this.planContext);
  }

  /**
   * Text and pictures for one query, each modality searched with its own k and threshold: hybrid (vector and
   * BM25 fused) by default, at the configured level.
   */
  async search(query: string | SearchQuery, options: SearchOptions = {}): Promise<SearchResult> {
    const q = typeof query === 'string' ? { text: query } : query;
    const plan = await this.plan(options);
    const empty = { query: q.text ?? '', text: [], images: [], level: plan.level, mode: plan.mode };
    if (this.parts.store.dim === undefined) return empty;
    const adaptText =
      options.adapter === false ? undefined : (v: Float32Array) => this.queryAdapter.adaptText(v);
    const forms = await embedQuery(q, plan.level, this.models, this.config.ingest.maxImagePixels, adaptText);
    const hits = await searchStore(this.parts.store, forms, plan, (rel) => this.parts.media.path(rel));
    const judged = options.judge && forms.text && !q.image && !q.imageBytes;
    const answerability = judged ? await this.gate.judge(forms, plan) : undefined;
    return { ...empty, ...hits, ...(answerability ? { answerability } : {}) };
  }

  /**
   * Retrieve, decide whether the documents can answer (the answerability gate), build the prompt with the
   * pictures attached, and ask the multimodal LLM; or say the documents do not, with the closest sources.
   */
  async ask(question: string | SearchQuery, options: AskOptions = {}): Promise<AskResult> {
    const q = typeof question === 'string' ? { text: question } : question;
    const asked = { ...q, text: retrievalText(q.text, options.history) };
    const judge = options.gate ?? this.config.search.gate;
    const found = await this.search(asked, { ...options, judge });
    const answerability = found.answerability;
    // Not answerable and nothing passed the thresholds: the closest items are still worth showing.
    const shown =
      answerability?.answerable === false && found.text.length + found.images.length === 0
        ? await this.search(asked, { ...options, ...CLOSEST })
        : found;
    const readPicture = storedPictureReader(this.parts.store, this.parts.media, shown.images);
    return answerFromHits({
      question: q.text ?? '',
      found: shown,
      answerability,
      model: await chooseLanguageModel(this.config.llm, {
        llm: options.llm !== undefined ? options.llm : this.parts.llm,
        llmConfig: options.llmConfig,
      }),
      readPicture: (hit) => readPicture(hit.id),
      history: options.history,
      prompt: options.prompt ?? this.config.llm.prompt,
      onRetrieved: options.onRetrieved,
      temperature: this.config.llm.temperature,
      signal: options.signal,
      onToken: options.onToken,
    });
  }

  /** One item by id (undefined when unknown). */
  async item(id: string): Promise<StoredItem | undefined> {
    return (await this.parts.store.getItems([id]))[0];
  }

  /**
   * The stored picture of an image item, by item id only: the path comes from the knowledge base, never from the
   * caller, so no request can reach a file outside the media folder.
   */
  async media(id: string): Promise<{ path: string; mime: string } | undefined> {
    const item = await this.item(id);
    if (!item?.media) return undefined;
    return { path: this.parts.media.path(item.media), mime: mimeOfMedia(item.media) };
  }

  async sources(): Promise<SourceRecord[]> {
    return this.parts.store.listSources();
  }

  async items(source: string): Promise<StoredItem[]> {
    return this.parts.store.itemsOfSource(this.resolveSource(source));
  }

  /** A source as stored: the exact string, or a path relative to the working directory. */
  private resolveSource(source: string): string {
    return source.includes('://') ? source : resolve(source);
  }

  /** Remove a source and its items (and pictures no other item uses); returns the number of items removed. */
  delete(source: string): Promise<number> {
    return removeSource(this.parts.store, this.parts.media, source, this.resolveSource(source), this.dir);
  }

  async stats(): Promise<KbStats> {
    const sources = await this.parts.store.listSources();
    return {
      dir: this.dir,
      embedModel: this.parts.manifest?.embedModel ?? this.embedModel,
      dim: this.parts.store.dim,
      sources: sources.length,
      textItems: sources.reduce((n, s) => n + s.textItems, 0),
      imageItems: sources.reduce((n, s) => n + s.imageItems, 0),
    };
  }

  async close(): Promise<void> {
    await this.parts.store.close();
    await this.models.dispose();
  }
}

/** Open (or create) a knowledge base. */
export function openKnowledgeBase(options: OpenKnowledgeBaseOptions = {}): Promise<KnowledgeBase> {
  return KnowledgeBase.open(options);
}
