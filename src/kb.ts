import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { type Config, type ConfigInput, DEFAULT_EMBED_MODEL, mergeLayers, parseConfig } from './config.js';
import { localModelFolder } from './embed/clip.js';
import type { Embedder, RgbImage } from './embed/embedder.js';
import { errorMessage, MmragError } from './errors.js';
import type { ChatImage, LanguageModel } from './generate/llm.js';
import { decodeToRgb } from './ingest/image-decode.js';
import { type IngestOptions, type IngestSummary, ingestPaths } from './ingest/pipeline.js';
import { type SearchParams, searchParams, searchStore } from './retrieve/search.js';
import { acquireWriteLock } from './store/lock.js';
import { MediaStore, mimeOfMedia } from './store/media.js';
import type { Store } from './store/store.js';
import type { Hit, SearchResult, SourceRecord, StoredItem } from './types.js';

/** Bumped when the on-disk layout changes; older knowledge bases are migrated or refused with a message. */
export const SCHEMA_VERSION = 1;

interface KbMeta {
  schemaVersion: number;
  embedModel: string;
  dim?: number;
  createdAt: string;
}

/** Per-query overrides of the configured retrieval parameters. */
export interface SearchOptions {
  scoring?: SearchParams['scoring'];
  text?: Partial<SearchParams['text']>;
  image?: Partial<SearchParams['image']>;
}

export interface SearchQuery {
  text?: string;
  /** Path of a picture to search by (alone, or with text: the two query vectors are averaged). */
  image?: string;
}

export interface AskOptions extends SearchOptions {
  /** Called with each piece of the answer as it streams in. */
  onToken?: (text: string) => void;
  signal?: AbortSignal;
  /** Use this model instead of the configured one. */
  llm?: LanguageModel | null;
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

function meanVector(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i]! + b[i]!) / 2;
  return out;
}

/**
 * One knowledge base: the facade the CLI, the server and library users share. It owns the store, the media
 * copies and the embedding model (loaded on first use), and never holds a write lock longer than one write.
 */
export class KnowledgeBase {
  private embedderPromise: Promise<Embedder> | undefined;

  private constructor(
    readonly config: Config,
    readonly dir: string,
    private readonly store: Store,
    private readonly mediaStore: MediaStore,
    private meta: KbMeta | undefined,
    /** The embedding model this knowledge base uses (absolute folder for local models). */
    readonly embedModel: string,
    private readonly onModelDownload?: OpenKnowledgeBaseOptions['onModelDownload'],
  ) {}

  static async open(options: OpenKnowledgeBaseOptions = {}): Promise<KnowledgeBase> {
    const { config: given, onModelDownload, ...layer } = options;
    const config = given ?? parseConfig(mergeLayers(layer as Record<string, unknown>));
    const dir = resolve(config.kb);
    const metaPath = join(dir, 'kb.json');
    let meta: KbMeta | undefined;
    if (existsSync(metaPath)) {
      meta = JSON.parse(readFileSync(metaPath, 'utf8')) as KbMeta;
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
    const { LanceStore } = await import('./store/lance.js');
    const store = await LanceStore.open(dir);
    const media = new MediaStore(join(dir, 'media'));
    return new KnowledgeBase(config, dir, store, media, meta, embedModel, onModelDownload);
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

  /** Use an already-loaded embedder (e.g. shared between knowledge bases, or the demo's fallback model). */
  useEmbedder(embedder: Embedder): void {
    this.embedderPromise = Promise.resolve(embedder);
  }

  private writeMeta(dim: number | undefined): void {
    mkdirSync(this.dir, { recursive: true });
    this.meta = {
      schemaVersion: SCHEMA_VERSION,
      embedModel: this.embedModel,
      dim,
      createdAt: this.meta?.createdAt ?? new Date().toISOString(),
    };
    writeFileSync(join(this.dir, 'kb.json'), `${JSON.stringify(this.meta, null, 2)}\n`);
  }

  /**
   * Ingest files, folders and web page URLs; unchanged files are skipped, changed ones replaced. Never throws per
   * file. With `prune`, sources inside the given folders whose files are gone are removed too.
   */
  async ingest(paths: string[], options: IngestOptions & { prune?: boolean } = {}): Promise<IngestSummary> {
    mkdirSync(this.dir, { recursive: true });
    const release = acquireWriteLock(join(this.dir, 'write.lock'));
    try {
      if (!this.meta) this.writeMeta(undefined);
      const { LanceStore } = await import('./store/lance.js');
      if (this.store instanceof LanceStore) {
        this.store.refresh();
        await this.store.removeOrphans();
      }
      const summary = await ingestPaths(
        paths,
        {
          store: this.store,
          media: this.mediaStore,
          embedder: () => this.embedder(),
          config: this.config,
          exclude: [this.dir],
        },
        options,
      );
      if (this.meta?.dim === undefined && this.store.dim !== undefined) this.writeMeta(this.store.dim);
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

  private async queryVector(query: SearchQuery): Promise<Float32Array> {
    const embedder = await this.embedder();
    let textVector: Float32Array | undefined;
    let imageVector: Float32Array | undefined;
    if (query.text?.trim()) textVector = (await embedder.embedTexts([query.text]))[0]!;
    if (query.image) {
      let rgb: RgbImage;
      try {
        rgb = await decodeToRgb(await readFile(resolve(query.image)), {
          maxPixels: this.config.ingest.maxImagePixels,
          maxSide: 1024,
        });
      } catch (err) {
        throw new MmragError(
          `Cannot read the query picture ${query.image}: ${errorMessage(err)}`,
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

  private params(options: SearchOptions): SearchParams {
    const base = searchParams({
      ...this.config.search,
      scoring: options.scoring ?? this.config.search.scoring,
    });
    return {
      scoring: base.scoring,
      text: { ...base.text, ...definedOnly(options.text) },
      image: { ...base.image, ...definedOnly(options.image) },
    };
  }

  /** Text and pictures for one query, each modality searched with its own k, threshold and temperature. */
  async search(query: string | SearchQuery, options: SearchOptions = {}): Promise<SearchResult> {
    const q = typeof query === 'string' ? { text: query } : query;
    if (this.store.dim === undefined) return { query: q.text ?? '', text: [], images: [] };
    const vector = await this.queryVector(q);
    const hits = await searchStore(this.store, vector, this.params(options), (rel) =>
      this.mediaStore.path(rel),
    );
    return { query: q.text ?? '', ...hits };
  }

  /** Retrieve, build the reference prompt with the pictures attached, and ask the multimodal LLM. */
  async ask(question: string | SearchQuery, options: AskOptions = {}): Promise<AskResult> {
    const q = typeof question === 'string' ? { text: question } : question;
    const { buildReferencePrompt } = await import('./generate/prompt.js');
    const found = await this.search(q, options);
    const sources = [...found.text, ...found.images];
    const text = q.text ?? '';
    const prompt = buildReferencePrompt(text, found.text, found.images);
    const result: AskResult = { question: text, answer: null, sources, citations: [], model: null, prompt };

    let llm: LanguageModel | undefined;
    try {
      if (options.llm !== undefined) llm = options.llm ?? undefined;
      else llm = await (await import('./generate/create.js')).createLanguageModel(this.config.llm);
    } catch (err) {
      result.error = asErrorValue(err);
      return result;
    }
    if (!llm) {
      const url = this.config.llm.url ?? 'http://127.0.0.1:11434';
      result.error =
        this.config.llm.provider === 'none'
          ? { code: 'llm_none', message: 'No language model answered: answering is turned off (--llm none).' }
          : {
              code: 'llm_none',
              message: `No language model answered: Ollama did not answer at ${url}.`,
              hint: 'Start Ollama (ollama serve; ollama pull llama3.2-vision), or use --llm openai --llm-url URL for an OpenAI-compatible server.',
            };
      return result;
    }
    const images: ChatImage[] = [];
    for (const hit of found.images) {
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
        messages: [{ role: 'user', content: prompt, images }],
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
    const referenced = new Set<string>();
    for (const record of await this.store.listSources()) {
      if (record.imageItems === 0) continue;
      for (const item of await this.store.itemsOfSource(record.source))
        if (item.media) referenced.add(item.media);
    }
    this.mediaStore.prune(referenced);
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

  async close(): Promise<void> {
    const embedder = this.embedderPromise;
    this.embedderPromise = undefined;
    await this.store.close();
    if (embedder) await (await embedder.catch(() => undefined))?.dispose();
  }
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
