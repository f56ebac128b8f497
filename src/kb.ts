import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { type Config, type ConfigInput, DEFAULT_EMBED_MODEL, mergeLayers, parseConfig } from './config.js';
import { localModelFolder } from './embed/clip.js';
import type { Embedder, RgbImage, TextSpace } from './embed/embedder.js';
import { errorMessage, MmragError } from './errors.js';
import type { ChatImage, LanguageModel } from './generate/llm.js';
import {
  type IngestDependencies,
  type IngestOptions,
  type IngestSummary,
  ingestPaths,
} from './ingest/pipeline.js';
import { decodeToRgb, EMBED_MAX_SIDE } from './media/image-decode.js';
import type { Reranker } from './retrieve/rerank.js';
import {
  defaultModalityParams,
  type Level,
  type ModalityParams,
  type QueryForms,
  type Scoring,
  type SearchMode,
  type SearchPlan,
  searchStore,
} from './retrieve/search.js';
import { writeFileAtomic } from './store/atomic.js';
import { acquireWriteLock } from './store/lock.js';
import { MediaStore, mimeOfMedia } from './store/media-store.js';
import type { Store } from './store/store.js';
import { type AdapterInfo, QueryAdapterSource, removeAdapter } from './tune/adapter-file.js';
import type { TuneOptions, TuneReport } from './tune/run.js';
import type { Hit, SearchResult, SourceRecord, StoredItem } from './types.js';
import { meanVector } from './vector/dot.js';

/** Bumped when the on-disk layout changes; older knowledge bases are migrated or refused with a message. */
export const SCHEMA_VERSION = 1;

interface KbMeta {
  schemaVersion: number;
  embedModel: string;
  /** The dedicated text embedding model, when one is used. */
  textModel?: string;
  dim?: number;
  createdAt: string;
}

/** Per-query overrides of the configured retrieval parameters. */
export interface SearchOptions {
  /**
   * Score vectors by cosine or by the reference softmax. Setting it without `mode` selects `mode: 'vector'`: the
   * reference pipeline's pure vector search.
   */
  scoring?: Scoring;
  /** 1: text forms only; 2: text forms, pictures for the LLM; 3: CLIP space (default: the configured level). */
  level?: Level;
  /** `hybrid` (vector + BM25, fused), `vector`, or `bm25`. */
  mode?: SearchMode;
  /** A filter in the `--where` language, e.g. `type = pdf and page >= 3`. */
  where?: string;
  /** MMR lambda in (0, 1]: lower is more diverse. */
  diversity?: number;
  /** Rerank the candidates with the configured reranker (default: when one is configured). */
  rerank?: boolean;
  /** Map text queries through the query adapter `mmrag tune` trained, when there is one (default true). */
  adapter?: boolean;
  text?: Partial<ModalityParams>;
  image?: Partial<ModalityParams>;
}

export interface SearchQuery {
  text?: string;
  /** Path of a picture to search by (alone, or with text: the two query vectors are averaged). */
  image?: string;
  /** The picture's bytes, instead of a path (an upload). */
  imageBytes?: Uint8Array;
}

export interface AskOptions extends SearchOptions {
  /** Called with each piece of the answer as it streams in. */
  onToken?: (text: string) => void;
  signal?: AbortSignal;
  /** Use this model instead of the configured one. */
  llm?: LanguageModel | null;
  /** Override parts of the configured LLM settings for this question (provider, model, url). */
  llmConfig?: Partial<Config['llm']>;
  /** The conversation so far, oldest first: it goes before the question so follow-ups make sense. */
  history?: Array<{ role: 'user' | 'assistant'; content: string }>;
}

export interface AskResult {
  question: string;
  /** The model's answer; null when no model answered. */
  answer: string | null;
  /** The retrieved items shown to the model, numbered 1.. in this order (text, then pictures). */
  sources: Hit[];
  /** Source numbers the answer cites as [n]. */
  citations: number[];
  /** `provider/model`, or null when no model answered. */
  model: string | null;
  prompt: string;
  /** The level that answered (1: no pictures were shown to the model). */
  level: Level;
  /** Why there is no answer (no model reachable, or the model failed). */
  error?: { code: string; message: string; hint?: string };
}

export interface KbStats {
  dir: string;
  embedModel: string | undefined;
  dim: number | undefined;
  sources: number;
  textItems: number;
  imageItems: number;
}

export interface OpenKnowledgeBaseOptions extends ConfigInput {
  /** A fully resolved configuration (the CLI passes one); other fields are ignored when set. */
  config?: Config;
  /** Progress of model downloads from the hub on first use (percent 0-100 per file). */
  onModelDownload?: (model: string, file: string, percent: number) => void;
}

/** The numbers `[n]` an answer cites, in order of first appearance, limited to valid source numbers. */
export function citedNumbers(answer: string, sourceCount: number): number[] {
  const seen = new Set<number>();
  for (const match of answer.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    for (const part of match[1]!.split(',')) {
      const n = Number(part.trim());
      if (n >= 1 && n <= sourceCount) seen.add(n);
    }
  }
  return [...seen];
}

/**
 * One knowledge base: the facade the CLI, the server and library users share. It owns the store, the media
 * copies and the embedding model (loaded on first use), and never holds a write lock longer than one write.
 */
export class KnowledgeBase {
  private embedderPromise: Promise<Embedder> | undefined;
  private readonly queryAdapter: QueryAdapterSource;

  private constructor(
    readonly config: Config,
    readonly dir: string,
    private readonly store: Store,
    private readonly mediaStore: MediaStore,
    private meta: KbMeta | undefined,
    /** The embedding model this knowledge base uses (absolute folder for local models). */
    readonly embedModel: string,
    /** The dedicated text embedding model; undefined: CLIP's text tower. */
    readonly textModel: string | undefined,
    private readonly onModelDownload?: OpenKnowledgeBaseOptions['onModelDownload'],
  ) {
    this.queryAdapter = new QueryAdapterSource(dir, () => ({ embedModel, dim: store.dim }));
  }

  static async open(options: OpenKnowledgeBaseOptions = {}): Promise<KnowledgeBase> {
    const { config: given, onModelDownload, ...layer } = options;
    const config = given ?? parseConfig(mergeLayers(layer as Record<string, unknown>));
    const dir = resolve(config.kb);
    const metaPath = join(dir, 'kb.json');
    let meta: KbMeta | undefined;
    if (existsSync(metaPath)) {
      try {
        meta = JSON.parse(readFileSync(metaPath, 'utf8')) as KbMeta;
      } catch (err) {
        throw new MmragError(
          `The knowledge base's settings file ${metaPath} is unreadable: ${errorMessage(err)}`,
          'Restore it from a backup, or re-ingest into a new --kb folder.',
          'kb_corrupt',
        );
      }
      if (meta.schemaVersion > SCHEMA_VERSION) {
        throw new MmragError(
          `The knowledge base ${dir} was written by a newer mmrag (schema ${meta.schemaVersion}, this one reads ${SCHEMA_VERSION}).`,
          'Upgrade mmrag (npm i -g mmrag@latest).',
          'kb_too_new',
        );
      }
    }
    const configured = config.embed.model
      ? (localModelFolder(config.embed.model) ?? config.embed.model)
      : undefined;
    if (meta && configured && configured !== meta.embedModel) {
      throw new MmragError(
        `The knowledge base ${dir} was built with the embedding model ${meta.embedModel}, not ${configured}.`,
        `Leave --embed-model out (the knowledge base remembers its model), pass --embed-model ${meta.embedModel}, or use a new --kb folder.`,
        'model_mismatch',
      );
    }
    const embedModel = meta?.embedModel ?? configured ?? DEFAULT_EMBED_MODEL;
    const configuredText = config.embed.textModel
      ? (localModelFolder(config.embed.textModel) ?? config.embed.textModel)
      : undefined;
    if (
      meta?.dim !== undefined &&
      configuredText !== meta.textModel &&
      config.embed.textModel !== undefined
    ) {
      throw new MmragError(
        `The knowledge base ${dir} was built with ${meta.textModel ? `the text model ${meta.textModel}` : "CLIP's text tower for text forms"}, not ${configuredText}.`,
        'Leave the text model setting out (the knowledge base remembers it), or use a new --kb folder.',
        'model_mismatch',
      );
    }
    const textModel = meta?.dim !== undefined ? meta.textModel : configuredText;
    const { LanceStore } = await import('./store/lance.js');
    const store = await LanceStore.open(dir, { ann: config.search.ann });
    const media = new MediaStore(join(dir, 'media'));
    return new KnowledgeBase(config, dir, store, media, meta, embedModel, textModel, onModelDownload);
  }

  /** The embedding model, loaded once on first use. */
  embedder(): Promise<Embedder> {
    this.embedderPromise ??= (async () => {
      const { loadClipEmbedder } = await import('./embed/clip.js');
      return loadClipEmbedder({
        model: this.embedModel,
        dtype: this.config.embed.dtype,
        batchSize: this.config.embed.batchSize,
        cacheDir: this.config.embed.cacheDir,
        allowRemote: this.config.embed.allowRemote,
        onDownload: (file, percent) => this.onModelDownload?.(this.embedModel, file, percent),
      });
    })();
    this.embedderPromise.catch(() => {
      this.embedderPromise = undefined;
    });
    return this.embedderPromise;
  }

  private textSpacePromise: Promise<TextSpace> | undefined;
  private rerankerPromise: Promise<Reranker | undefined> | undefined;

  /** The text embedder for text forms: the dedicated text model, or CLIP's text tower. */
  textSpace(): Promise<TextSpace> {
    this.textSpacePromise ??= (async (): Promise<TextSpace> => {
      if (!this.textModel) {
        const clip = await this.embedder();
        return {
          isClip: true,
          embedder: {
            modelId: clip.modelId,
            dim: clip.dim,
            embedTexts: (t) => clip.embedTexts(t),
            dispose: async () => {},
          },
        };
      }
      const { loadTextEmbedder } = await import('./embed/text-embedder.js');
      const embedder = await loadTextEmbedder({
        model: this.textModel,
        cacheDir: this.config.embed.cacheDir,
        allowRemote: this.config.embed.allowRemote,
      });
      return { isClip: false, embedder };
    })();
    this.textSpacePromise.catch(() => {
      this.textSpacePromise = undefined;
    });
    return this.textSpacePromise;
  }

  private reranker(): Promise<Reranker | undefined> {
    this.rerankerPromise ??= (async () => {
      const r = this.config.search.rerank;
      if (r.provider === 'none') return undefined;
      const rerank = await import('./retrieve/rerank.js');
      if (r.provider === 'remote') {
        if (!r.url) {
          throw new MmragError(
            'The remote reranker needs a URL.',
            'Set search.rerank.url (or MMRAG_RERANK_URL).',
            'invalid_config',
          );
        }
        return rerank.createRemoteReranker({ url: r.url, apiKey: r.apiKey, model: r.model });
      }
      return rerank.createCrossEncoderReranker({
        model: r.model ?? 'Xenova/ms-marco-MiniLM-L-6-v2',
        cacheDir: this.config.embed.cacheDir,
        allowRemote: this.config.embed.allowRemote,
      });
    })();
    return this.rerankerPromise;
  }

  /** Use an already-loaded embedder (e.g. shared between knowledge bases, or the demo's fallback model). */
  useEmbedder(embedder: Embedder): void {
    this.embedderPromise = Promise.resolve(embedder);
  }

  private writeMeta(dim: number | undefined): void {
    mkdirSync(this.dir, { recursive: true });
    this.meta = {
      schemaVersion: SCHEMA_VERSION,
      embedModel: this.embedModel,
      textModel: this.textModel,
      dim,
      createdAt: this.meta?.createdAt ?? new Date().toISOString(),
    };
    writeFileAtomic(join(this.dir, 'kb.json'), `${JSON.stringify(this.meta, null, 2)}\n`);
  }

  /**
   * Ingest files, folders and web page URLs; unchanged files are skipped, changed ones replaced. Never throws per
   * file. With `prune`, sources inside the given folders whose files are gone are removed too.
   */
  async ingest(
    paths: string[],
    options: IngestOptions & { prune?: boolean; localRoot?: string } = {},
  ): Promise<IngestSummary> {
    mkdirSync(this.dir, { recursive: true });
    const release = acquireWriteLock(join(this.dir, 'write.lock'));
    try {
      if (!this.meta) this.writeMeta(undefined);
      await this.store.refresh();
      await this.store.removeOrphans();
      const summary = await ingestPaths(
        paths,
        {
          store: this.store,
          media: this.mediaStore,
          embedder: () => this.embedder(),
          textSpace: () => this.textSpace(),
          describePicture: await this.pictureDescriber(),
          config: this.config,
          exclude: [this.dir],
          localRoot: options.localRoot,
        },
        options,
      );
      if (this.meta?.dim === undefined && this.store.dim !== undefined) this.writeMeta(this.store.dim);
      if (summary.ingested > 0) await this.store.optimize();
      if (options.prune) {
        summary.pruned = await this.pruneMissing(
          paths.filter((p) => !/^https?:\/\//i.test(p)).map((p) => resolve(p)),
        );
      }
      return summary;
    } finally {
      release();
    }
  }

  /** With `ingest.caption`, a function describing pictures with the configured LLM (which must answer). */
  private async pictureDescriber(): Promise<IngestDependencies['describePicture']> {
    if (!this.config.ingest.caption) return undefined;
    const llm = await (await import('./generate/create.js')).createLanguageModel(this.config.llm);
    if (!llm) {
      throw new MmragError(
        'Describing pictures (--caption) needs a multimodal LLM, and none answered.',
        'Start Ollama with a vision model, or set --llm openai --llm-url URL; or leave --caption out.',
        'llm_none',
      );
    }
    const { describePicture } = await import('./enrich/caption.js');
    return (picture, context) => describePicture(llm, picture, context);
  }

  private async queryForms(query: SearchQuery, level: Level, adapt: boolean): Promise<QueryForms> {
    if ((query.image || query.imageBytes) && level !== 3) {
      throw new MmragError(
        `Searching by a picture needs level 3 (CLIP space); level ${level} searches the text forms of items.`,
        'Use --level 3, or describe the picture in words.',
        'bad_query',
      );
    }
    const forms: QueryForms = { text: query.text?.trim() || undefined };
    if (level === 3) forms.clip = await this.queryVector(query, adapt);
    if (forms.text) {
      const space = await this.textSpace();
      if (space.isClip && level === 3 && !query.image && !query.imageBytes) forms.textForm = forms.clip;
      else if (level !== 3 || !space.isClip)
        forms.textForm = (await space.embedder.embedTexts([forms.text]))[0]!;
    }
    return forms;
  }

  private async queryVector(query: SearchQuery, adapt: boolean): Promise<Float32Array> {
    const embedder = await this.embedder();
    let textVector: Float32Array | undefined;
    let imageVector: Float32Array | undefined;
    if (query.text?.trim()) textVector = (await embedder.embedTexts([query.text]))[0]!;
    // The adapter maps the text tower's queries only (see docs/tuning.md): a picture's vector is left as it is.
    if (textVector && adapt) textVector = this.queryAdapter.adaptText(textVector);
    if (query.image || query.imageBytes) {
      let rgb: RgbImage;
      try {
        const bytes = query.imageBytes ?? (await readFile(resolve(query.image!)));
        rgb = await decodeToRgb(bytes, {
          maxPixels: this.config.ingest.maxImagePixels,
          maxSide: EMBED_MAX_SIDE,
        });
      } catch (err) {
        throw new MmragError(
          `Cannot read the query picture ${query.image ?? '(upload)'}: ${errorMessage(err)}`,
          undefined,
          'bad_query',
        );
      }
      imageVector = (await embedder.embedImages([rgb]))[0]!;
    }
    if (textVector && imageVector) return meanVector(textVector, imageVector);
    const vector = textVector ?? imageVector;
    if (!vector) throw new MmragError('The query is empty.', 'Give a question or --image PATH.', 'bad_query');
    return vector;
  }

  /** The plan for one query: configuration, then the per-query options. */
  async plan(options: SearchOptions = {}): Promise<SearchPlan> {
    const search = this.config.search;
    const scoring = options.scoring ?? search.scoring;
    // An explicit scoring asks for the reference vector search unless a mode is given too.
    const mode = options.mode ?? (options.scoring ? 'vector' : search.mode);
    const base = defaultModalityParams(search, scoring);
    const plan: SearchPlan = {
      level: options.level ?? search.level,
      mode,
      scoring,
      text: { ...base.text, ...definedOnly(options.text) },
      image: { ...base.image, ...definedOnly(options.image) },
      fusion: search.fusion,
      candidates: search.candidates,
      diversity: options.diversity ?? search.diversity,
      dedicatedTextSpace: this.textModel !== undefined,
    };
    if (options.where?.trim()) {
      const { parseWhere, matchesWhere } = await import('./retrieve/filter.js');
      const filter = parseWhere(options.where);
      plan.where = (item) => matchesWhere(item, filter);
    }
    if (options.rerank !== false) {
      const reranker =
        options.rerank || search.rerank.provider !== 'none' ? await this.reranker() : undefined;
      if (options.rerank && !reranker) {
        throw new MmragError(
          'Reranking was asked for, but no reranker is configured.',
          'Set search.rerank.provider to cross-encoder or remote (MMRAG_RERANK).',
          'invalid_config',
        );
      }
      plan.reranker = reranker;
    }
    return plan;
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
    const forms = await this.queryForms(q, plan.level, options.adapter !== false);
    const hits = await searchStore(this.store, forms, plan, (rel) => this.mediaStore.path(rel));
    return { query: q.text ?? '', ...hits, ...meta };
  }

  /** Retrieve, build the reference prompt with the pictures attached, and ask the multimodal LLM. */
  async ask(question: string | SearchQuery, options: AskOptions = {}): Promise<AskResult> {
    const q = typeof question === 'string' ? { text: question } : question;
    const { buildReferencePrompt } = await import('./generate/prompt.js');
    const found = await this.search({ ...q, text: retrievalText(q.text, options.history) }, options);
    const sources = [...found.text, ...found.images];
    const text = q.text ?? '';
    const level = found.level ?? 3;
    const prompt = buildReferencePrompt(text, found.text, found.images, { level });
    const result: AskResult = {
      question: text,
      answer: null,
      sources,
      citations: [],
      model: null,
      prompt,
      level,
    };

    let llm: LanguageModel | undefined;
    try {
      if (options.llm !== undefined) llm = options.llm ?? undefined;
      else {
        const override = options.llmConfig ?? {};
        // A different provider does not inherit the configured provider's URL and model.
        const base =
          override.provider && override.provider !== this.config.llm.provider
            ? { ...this.config.llm, url: undefined, model: undefined }
            : this.config.llm;
        llm = await (await import('./generate/create.js')).createLanguageModel({
          ...base,
          ...definedOnly(override),
        });
      }
    } catch (err) {
      result.error = asErrorValue(err);
      return result;
    }
    if (!llm) {
      const effective = { ...this.config.llm, ...definedOnly(options.llmConfig ?? {}) };
      const url = effective.url ?? 'http://127.0.0.1:11434';
      result.error =
        effective.provider === 'none'
          ? { code: 'llm_none', message: 'No language model answered: answering is turned off (--llm none).' }
          : {
              code: 'llm_none',
              message: `No language model answered: Ollama did not answer at ${url}.`,
              hint: 'Start Ollama (ollama serve; ollama pull llama3.2-vision), or use --llm openai --llm-url URL for an OpenAI-compatible server.',
            };
      return result;
    }
    const images: ChatImage[] = [];
    // Level 1 translates pictures to text: the model sees their captions, never the pictures.
    for (const hit of level === 1 ? [] : found.images) {
      if (!hit.image) continue;
      try {
        images.push({ bytes: new Uint8Array(await readFile(hit.image)), mime: mimeOfMedia(hit.image) });
      } catch {
        // A picture deleted from the media folder by hand: answer from the rest.
      }
    }
    let answer = '';
    try {
      for await (const piece of llm.stream({
        messages: [...(options.history ?? []), { role: 'user', content: prompt, images }],
        temperature: this.config.llm.temperature,
        signal: options.signal,
      })) {
        answer += piece;
        options.onToken?.(piece);
      }
    } catch (err) {
      result.error = asErrorValue(err);
      if (answer) result.answer = answer;
      return result;
    }
    result.answer = answer;
    result.model = `${llm.provider}/${llm.model}`;
    result.citations = citedNumbers(answer, sources.length);
    return result;
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
  async delete(source: string): Promise<number> {
    const release = acquireWriteLock(join(this.dir, 'write.lock'));
    try {
      const key = (await this.store.getSource(source)) ? source : this.resolveSource(source);
      if (!(await this.store.getSource(key))) {
        throw new MmragError(
          `No source ${source} in the knowledge base ${this.dir}.`,
          'List them with `mmrag sources`.',
          'not_found',
        );
      }
      const removed = await this.store.deleteSources([key]);
      await this.pruneMedia();
      return removed;
    } finally {
      release();
    }
  }

  /** Remove sources inside `folders` whose files no longer exist; returns the sources removed. */
  private async pruneMissing(folders: string[]): Promise<string[]> {
    const gone = (await this.store.listSources())
      .map((r) => r.source)
      .filter(
        (source) => folders.some((f) => source === f || source.startsWith(f + sep)) && !existsSync(source),
      );
    if (gone.length > 0) {
      await this.store.deleteSources(gone);
      await this.pruneMedia();
    }
    return gone;
  }

  private async pruneMedia(): Promise<void> {
    const pictures = await this.store.scanItems('image');
    this.mediaStore.prune(new Set(pictures.flatMap((item) => (item.media ? [item.media] : []))));
  }

  async stats(): Promise<KbStats> {
    const sources = await this.store.listSources();
    return {
      dir: this.dir,
      embedModel: this.meta?.embedModel ?? this.embedModel,
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

  /**
   * Train a query adapter on this knowledge base's own pairs (captions, section titles, and the files and LLM
   * questions asked for); it is kept only when it makes the held-out figures better. See docs/tuning.md.
   */
  async tune(options: TuneOptions = {}): Promise<TuneReport> {
    await this.store.refresh();
    const { tuneKnowledgeBase } = await import('./tune/run.js');
    return tuneKnowledgeBase(
      {
        dir: this.dir,
        embedModel: this.embedModel,
        store: this.store,
        embedder: () => this.embedder(),
        languageModel: async () =>
          (await import('./generate/create.js')).createLanguageModel(this.config.llm),
        readPicture: async (item) => {
          if (!item.media) return undefined;
          try {
            const bytes = new Uint8Array(await readFile(this.mediaStore.path(item.media)));
            return { bytes, mime: mimeOfMedia(item.media) };
          } catch {
            return undefined;
          }
        },
        withWriteLock: (write) => {
          const release = acquireWriteLock(join(this.dir, 'write.lock'));
          try {
            return write();
          } finally {
            release();
          }
        },
      },
      options,
    );
  }

  /** Remove the query adapter (searches use the model as it is again); false when there was none. */
  resetAdapter(): boolean {
    const release = acquireWriteLock(join(this.dir, 'write.lock'));
    try {
      return removeAdapter(this.dir);
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    const embedder = this.embedderPromise;
    this.embedderPromise = undefined;
    await this.store.close();
    if (embedder) await (await embedder.catch(() => undefined))?.dispose();
    const space = this.textSpacePromise;
    this.textSpacePromise = undefined;
    if (space) await (await space.catch(() => undefined))?.embedder.dispose();
  }
}

/** Follow-ups this short ("and the blue one?") are read together with the question before them. */
const FOLLOW_UP_WORDS = 8;

/**
 * What to retrieve for a question in a conversation: a short follow-up leans on the previous question for its
 * subject, so both are searched; a full question stands on its own. The model still sees the exact question.
 */
export function retrievalText(
  question: string | undefined,
  history: AskOptions['history'],
): string | undefined {
  const previous = history
    ?.filter((m) => m.role === 'user')
    .at(-1)
    ?.content.trim();
  if (!question || !previous) return question;
  return question.trim().split(/\s+/).length <= FOLLOW_UP_WORDS ? `${previous} ${question}` : question;
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function asErrorValue(err: unknown): NonNullable<AskResult['error']> {
  if (err instanceof MmragError) return { code: err.code, message: err.message, hint: err.hint };
  return { code: 'llm_error', message: errorMessage(err) };
}

/** Open (or create) a knowledge base. */
export function openKnowledgeBase(options: OpenKnowledgeBaseOptions = {}): Promise<KnowledgeBase> {
  return KnowledgeBase.open(options);
}
