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
import type { IngestDependencies, IngestSummary } from './ingest/pipeline.js';
import { LoaderRegistry } from './ingest/registry.js';
import { type IngestRunOptions, removeSource, runIngest } from './ingest/session.js';
import {
  embedQuery,
  planSearch,
  retrievalText,
  type SearchOptions,
  type SearchQuery,
} from './retrieve/query.js';
import {
  type AdapterInfo,
  QueryAdapterSource,
  removeAdapter,
  writeAdapter,
} from './retrieve/query-adapter.js';
import type { Reranker } from './retrieve/rerank.js';
import { type SearchPlan, searchStore } from './retrieve/search.js';
import { type KbManifest, newManifest } from './store/manifest.js';
import { FolderMediaStore, type MediaStore, mimeOfMedia, storedPictureReader } from './store/media-store.js';
import type { Store, VectorSet } from './store/store.js';
import type { Modality, SearchResult, SourceRecord, StoredItem } from './types.js';
import type { LinearMap } from './vector/linear-map.js';

export type { AskError, AskResult } from './generate/answer.js';
export type { SearchOptions, SearchQuery } from './retrieve/query.js';

/** Options of one question: how to retrieve (`SearchOptions`) and how to answer. */
export interface AskOptions extends SearchOptions, AnswerOptions {}

export interface KbStats {
  dir: string;
  embedModel: string | undefined;
  dim: number | undefined;
  sources: number;
  textItems: number;
  imageItems: number;
}

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
  private rerankerPromise: Promise<Reranker | undefined> | undefined;
  private readonly queryAdapter: QueryAdapterSource;

  private constructor(
    readonly config: Config,
    readonly dir: string,
    private readonly store: Store,
    private readonly mediaStore: MediaStore,
    /** The embedding models, each loaded on first use. */
    readonly models: EmbeddingModels,
    private readonly loaders: LoaderRegistry,
    private readonly llm: LanguageModel | null | undefined,
    private manifest: KbManifest | undefined,
  ) {
    this.queryAdapter = new QueryAdapterSource(dir, () => ({ embedModel: this.embedModel, dim: store.dim }));
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
    return new KnowledgeBase(
      config,
      dir,
      store,
      media ?? new FolderMediaStore(join(dir, 'media')),
      models,
      loaders ?? new LoaderRegistry(),
      languageModel,
      manifest,
    );
  }

  /** The embedding model this knowledge base uses (absolute folder for local models). */
  get embedModel(): string {
    return this.models.embedModel;
  }

  /**
   * Ingest files, folders and web page URLs; unchanged files are skipped, changed ones replaced. Never throws per
   * file. With `prune`, sources inside the given folders whose files are gone are removed too.
   */
  async ingest(
    paths: string[],
    options: IngestRunOptions & { localRoot?: string } = {},
  ): Promise<IngestSummary> {
    const deps: IngestDependencies = {
      store: this.store,
      media: this.mediaStore,
      embedder: () => this.models.embedder(),
      textSpace: () => this.models.textSpace(),
      describePicture: this.config.ingest.caption
        ? await createPictureDescriber(this.config.llm, this.llm)
        : undefined,
      config: this.config,
      loaders: this.loaders,
      exclude: [this.dir],
      localRoot: options.localRoot,
    };
    return runIngest(paths, deps, options, async () => {
      // The models are pinned once the first vectors are stored (not before: a failed first run pins nothing).
      if (this.manifest?.dim !== undefined || this.store.dim === undefined) return;
      this.manifest = newManifest(this.models, this.store.dim, this.manifest);
      await this.store.writeManifest(this.manifest);
    });
  }

  /** The plan for one query: configuration, then the per-query options. */
  plan(options: SearchOptions = {}): Promise<SearchPlan> {
    return planSearch(this.config.search, options, {
      reranker: () =>
        (this.rerankerPromise ??= import('./retrieve/rerank.js').then((m) =>
          m.createConfiguredReranker(this.config.search.rerank, this.config.embed),
        )),
      dedicatedTextSpace: this.models.textModel !== undefined,
    });
  }

  /**
   * Text and pictures for one query, each modality searched with its own k and threshold: hybrid (vector and
   * BM25 fused) by default, at the configured level.
   */
  async search(query: string | SearchQuery, options: SearchOptions = {}): Promise<SearchResult> {
    const q = typeof query === 'string' ? { text: query } : query;
    const plan = await this.plan(options);
    const meta = { level: plan.level, mode: plan.mode };
    if (this.store.dim === undefined) return { query: q.text ?? '', text: [], images: [], ...meta };
    const adaptText =
      options.adapter === false ? undefined : (v: Float32Array) => this.queryAdapter.adaptText(v);
    const forms = await embedQuery(q, plan.level, this.models, this.config.ingest.maxImagePixels, adaptText);
    const hits = await searchStore(this.store, forms, plan, (rel) => this.mediaStore.path(rel));
    return { query: q.text ?? '', ...hits, ...meta };
  }

  /** Retrieve, build the reference prompt with the pictures attached, and ask the multimodal LLM. */
  async ask(question: string | SearchQuery, options: AskOptions = {}): Promise<AskResult> {
    const q = typeof question === 'string' ? { text: question } : question;
    const found = await this.search({ ...q, text: retrievalText(q.text, options.history) }, options);
    const readPicture = storedPictureReader(this.store, this.mediaStore, found.images);
    return answerFromHits({
      question: q.text ?? '',
      found,
      model: await chooseLanguageModel(this.config.llm, {
        llm: options.llm !== undefined ? options.llm : this.llm,
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
    return (await this.store.getItems([id]))[0];
  }

  /**
   * The stored picture of an image item, by item id only: the path comes from the knowledge base, never from the
   * caller, so no request can reach a file outside the media folder.
   */
  async media(id: string): Promise<{ path: string; mime: string } | undefined> {
    const item = await this.item(id);
    if (!item?.media) return undefined;
    return { path: this.mediaStore.path(item.media), mime: mimeOfMedia(item.media) };
  }

  async sources(): Promise<SourceRecord[]> {
    return this.store.listSources();
  }

  async items(source: string): Promise<StoredItem[]> {
    return this.store.itemsOfSource(this.resolveSource(source));
  }

  /** A source as stored: the exact string, or a path relative to the working directory. */
  private resolveSource(source: string): string {
    return source.includes('://') ? source : resolve(source);
  }

  /** Remove a source and its items (and pictures no other item uses); returns the number of items removed. */
  delete(source: string): Promise<number> {
    return removeSource(this.store, this.mediaStore, source, this.resolveSource(source), this.dir);
  }

  async stats(): Promise<KbStats> {
    const sources = await this.store.listSources();
    return {
      dir: this.dir,
      embedModel: this.manifest?.embedModel ?? this.embedModel,
      dim: this.store.dim,
      sources: sources.length,
      textItems: sources.reduce((n, s) => n + s.textItems, 0),
      imageItems: sources.reduce((n, s) => n + s.imageItems, 0),
    };
  }

  /** The query adapter searches use (undefined: none); throws when it is unreadable or for another model. */
  adapter(): AdapterInfo | undefined {
    return this.queryAdapter.current()?.info;
  }

  /** Replace the query adapter (`mmrag tune` keeps one this way); returns the file written. */
  async saveAdapter(info: AdapterInfo, map: LinearMap): Promise<string> {
    const release = await this.store.lockWrites();
    try {
      return writeAdapter(this.dir, info, map);
    } finally {
      release();
    }
  }

  /** Remove the query adapter (searches use the model as it is again); false when there was none. */
  async resetAdapter(): Promise<boolean> {
    const release = await this.store.lockWrites();
    try {
      return removeAdapter(this.dir);
    } finally {
      release();
    }
  }

  /** Every live item of a modality with its stored CLIP vectors (what `mmrag tune` trains against). */
  async itemVectors(modality: Modality): Promise<{ items: StoredItem[]; vectors: VectorSet }> {
    await this.store.refresh();
    const [items, vectors] = await Promise.all([
      this.store.scanItems(modality),
      this.store.vectors(modality, 'vector'),
    ]);
    return { items, vectors };
  }

  async close(): Promise<void> {
    await this.store.close();
    await this.models.dispose();
  }
}

/** Open (or create) a knowledge base. */
export function openKnowledgeBase(options: OpenKnowledgeBaseOptions = {}): Promise<KnowledgeBase> {
  return KnowledgeBase.open(options);
}
