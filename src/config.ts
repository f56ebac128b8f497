import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { MmragError } from './errors.js';
import { displayUrl, urlHasSecrets } from './redact.js';

/** The hub model used when nothing else is configured. */
export const DEFAULT_EMBED_MODEL = 'Xenova/clip-vit-base-patch32';

const modalitySearch = (k: number, threshold: number, temperature: number) =>
  z
    .object({
      k: z.number().int().min(0).default(k),
      threshold: z.number().default(threshold),
      temperature: z.number().positive().default(temperature),
    })
    .prefault({});

const cosineThreshold = (threshold: number) =>
  z.object({ threshold: z.number().min(-1).max(1).default(threshold) }).prefault({});

export const ConfigSchema = z.object({
  /** Folder of the knowledge base. */
  kb: z.string().default('.mmrag'),
  embed: z
    .object({
      /** A hub model id (`Xenova/clip-vit-base-patch32`) or a local folder in the same layout. */
      /** Unset: the model the knowledge base was built with, else DEFAULT_EMBED_MODEL. */
      model: z.string().optional(),
      /** ONNX weights to load: fp32 (exact, slower) or q8 (about 2x faster on CPU). */
      dtype: z.enum(['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4']).default('fp32'),
      batchSize: z.number().int().min(1).max(256).default(16),
      /** Where downloaded models are cached. */
      cacheDir: z.string().optional(),
      /** Allow downloading models from the Hugging Face hub. */
      allowRemote: z.boolean().default(true),
      /**
       * A dedicated text embedding model (e.g. Xenova/all-MiniLM-L6-v2) for text-to-text retrieval and the text
       * forms of pictures; unset: CLIP's own text tower. Like the CLIP model, a knowledge base remembers it.
       */
      textModel: z.string().optional(),
    })
    .prefault({}),
  search: z
    .object({
      /** `cosine` (default: scores do not depend on corpus size) or `softmax` (the reference, exact). */
      scoring: z.enum(['softmax', 'cosine']).default('cosine'),
      /**
       * 3: CLIP space for text and pictures; 2: retrieval over text forms, pictures handed to the LLM;
       * 1: text forms only, no pictures anywhere.
       */
      level: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(3),
      /** `hybrid` (default): vector and BM25 rankings fused; `vector`: one scoring, the reference; `bm25`. */
      mode: z.enum(['hybrid', 'vector', 'bm25']).default('hybrid'),
      /** Reciprocal rank fusion: weights of each ranking and the RRF constant. */
      fusion: z
        .object({
          vector: z.number().min(0).default(1),
          bm25: z.number().min(0).default(1),
          /** The dedicated text embedder's ranking of text items (when one is configured). */
          text: z.number().min(0).default(1),
          k: z.number().positive().default(60),
        })
        .prefault({}),
      /**
       * The answerability gate of `ask`: when nothing in the knowledge base is closer to a question than what
       * unrelated probe questions get (docs/scoring.md), the model is not asked and the answer says so.
       */
      gate: z.boolean().default(true),
      /** How many candidates each ranking contributes before fusion, reranking and diversity. */
      candidates: z.number().int().min(1).default(50),
      /** MMR lambda in (0, 1]: lower means more diverse results; unset: off. */
      diversity: z.number().gt(0).max(1).optional(),
      rerank: z
        .object({
          /** `cross-encoder` (Transformers.js, local), `remote` (a /rerank API), or `none`. */
          provider: z.enum(['none', 'cross-encoder', 'remote']).default('none'),
          model: z.string().optional(),
          url: z.string().optional(),
          apiKey: z.string().optional(),
        })
        .prefault({}),
      /** Reference parameters of `similarity_search`, used with `scoring: softmax`. */
      text: modalitySearch(15, 0.01, 0.25),
      image: modalitySearch(5, 0.25, 0.5),
      /** Thresholds on cosine similarity, used with `scoring: cosine`. */
      cosine: z.object({ text: cosineThreshold(0.2), image: cosineThreshold(0.2) }).prefault({}),
      /**
       * Approximate nearest-neighbour index (LanceDB IVF_HNSW_SQ), built automatically at the end of an ingest once
       * a modality has `threshold` live items, and searched by cosine and hybrid queries (softmax stays exact: its
       * denominator needs every similarity). Below the threshold: exact SIMD search.
       */
      ann: z
        .object({
          enabled: z.boolean().default(true),
          /** Live items of one modality from which its vector searches use the index. */
          threshold: z.number().int().min(1).default(50_000),
          /**
           * Vector columns to index: `vector` (CLIP space, level 3, the default level). Add `text_vector` (text forms)
           * when levels 1-2 or a dedicated text model are used on a large corpus: it doubles the build time.
           */
          columns: z.array(z.enum(['vector', 'text_vector'])).default(['vector']),
          /** HNSW search breadth (higher: better recall, slower); at least the number of candidates fetched. */
          ef: z.number().int().min(10).default(80),
          /** Candidates fetched per wanted hit, then re-scored exactly with their full vectors. */
          refine: z.number().min(1).default(2),
          /**
           * A filtered query whose allowed items are fewer than this fraction of the indexed rows is answered by
           * exact search over the filtered items (an index walk loses recall on very selective filters).
           */
          exactBelowFraction: z.number().min(0).max(1).default(0.05),
        })
        .prefault({}),
    })
    .prefault({}),
  llm: z
    .object({
      /** `auto`: Ollama if it answers on localhost, otherwise no model (sources only). */
      provider: z.enum(['auto', 'ollama', 'openai', 'none']).default('auto'),
      url: z.string().optional(),
      model: z.string().optional(),
      apiKey: z.string().optional(),
      temperature: z.number().min(0).max(2).optional(),
      timeoutMs: z.number().int().positive().default(300_000),
      /**
       * The prompt `ask` sends: `mmrag` (numbered sources the answer cites, level-aware) or `reference` (the
       * reference pipeline's prompt, exactly; docs/reference.md).
       */
      prompt: z.enum(['mmrag', 'reference']).default('mmrag'),
    })
    .prefault({}),
  ingest: z
    .object({
      /** Download `http(s)` images referenced by saved pages. */
      fetchRemote: z.boolean().default(true),
      /** Fetch from loopback/private addresses too (off: such URLs are refused). */
      allowPrivateNetwork: z.boolean().default(false),
      minTextLength: z.number().int().min(0).default(30),
      chunkSize: z.number().int().min(32).default(256),
      chunkOverlap: z.number().min(0).max(0.9).default(0.25),
      maxFileBytes: z
        .number()
        .int()
        .positive()
        .default(200 * 1024 * 1024),
      maxImageBytes: z
        .number()
        .int()
        .positive()
        .default(50 * 1024 * 1024),
      maxImagePixels: z.number().int().positive().default(100_000_000),
      maxPages: z.number().int().positive().default(2000),
      /**
       * Pages of one PDF (or slides of one deck, when LibreOffice is installed) rendered whole to a picture, a `page`
       * item, so that figures drawn as vectors can be searched; later pages keep their text only. 0 turns page
       * pictures off (scanned pages are still rendered: their picture is all they have).
       */
      maxPageImages: z.number().int().min(0).default(500),
      maxDurationSeconds: z
        .number()
        .positive()
        .default(4 * 3600),
      maxArchiveBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * 1024 * 1024),
      maxArchiveRatio: z.number().positive().default(200),
      /**
       * Inflated bytes of one XML part of an office file, or of one stream of a PDF that is not a picture (checked
       * while inflating): a few MB of zip can hold hundreds of MB of XML, which a parser multiplies 10-30 times.
       */
      maxPartBytes: z
        .number()
        .int()
        .positive()
        .default(64 * 1024 * 1024),
      /** Times one part of an office file may be read as content (a slide listed 200 times is an attack). */
      maxPartReferences: z.number().int().positive().default(4),
      /** Characters of text one file may produce, over all its items. */
      maxTextChars: z.number().int().positive().default(100_000_000),
      /** Items (text chunks and pictures) one file may produce. */
      maxItems: z.number().int().positive().default(500_000),
      /** Nesting depth of HTML and XML elements (parsers slow down with the square of the depth). */
      maxNestingDepth: z.number().int().positive().default(2_000),
      /** Heap of the worker thread that parses files, in MB: a file that needs more fails (it is not the run). */
      maxParseMemoryMb: z.number().int().min(64).default(1024),
      /**
       * Seconds one file may spend being parsed (time spent on OCR and transcription not counted); audio and video
       * get a quarter of maxDurationSeconds more, for ffmpeg to decode them.
       */
      maxParseSeconds: z.number().positive().default(600),
      remoteTimeoutMs: z.number().int().positive().default(15_000),
      /** Read printed text in pictures and scanned pages (tesseract.js, offline). */
      ocr: z.boolean().default(true),
      /** Describe every picture with the configured multimodal LLM at ingest (level 1's MLLM captions). */
      caption: z.boolean().default(false),
      /** Globs a walked file must match (relative to the folder given); empty: every file. */
      include: z.array(z.string()).default([]),
      /** Globs of walked files and folders to leave out (besides .gitignore / .mmragignore). */
      exclude: z.array(z.string()).default([]),
    })
    .prefault({}),
  /** `mmrag serve`: upload limits and what API clients may choose. */
  server: z
    .object({
      /** Most bytes one upload request may carry (uploads are streamed to disk, never held in memory). */
      maxUploadBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * 1024 * 1024),
      /** Most files one upload request may carry. */
      maxUploadFiles: z.number().int().positive().default(1000),
      /**
       * Most bytes being received across all uploads at once; an upload that would pass it is refused with 503 and
       * Retry-After (the client tries again later), so concurrent uploads cannot fill the disk or the queue.
       */
      maxInFlightBytes: z
        .number()
        .int()
        .positive()
        .default(2 * 1024 * 1024 * 1024),
      llm: z
        .object({
          /**
           * Models an API client may ask for (`llm.model` in /api/ask), besides the configured one. Clients can
           * never switch to a provider or address the operator did not configure, only turn answering off.
           */
          allowModels: z.array(z.string().min(1)).default([]),
        })
        .prefault({}),
    })
    .prefault({}),
  transcribe: z
    .object({
      /** `whisper`: Transformers.js on this machine (downloads the model on first use); `openai`: a remote API. */
      provider: z.enum(['whisper', 'openai', 'none']).default('whisper'),
      /** Whisper model id or folder (default onnx-community/whisper-base.en), or the remote model name. */
      model: z.string().optional(),
      /** OpenAI-compatible base URL for `openai` (…/v1). */
      url: z.string().optional(),
      apiKey: z.string().optional(),
      language: z.string().optional(),
    })
    .prefault({}),
  mcp: z
    .object({
      /**
       * Folders whose files MCP clients connected over HTTP may ingest by path (symlinks resolved; relative paths
       * are taken inside them). Empty (the default): over HTTP, `ingest` takes only URLs, so a remote client can
       * never read the server's disk. Over stdio (the user's own machine) any path is accepted, as in the CLI.
       */
      ingestRoots: z.array(z.string()).default([]),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;

/** A partial configuration from any layer: file, environment or flags. */
export type ConfigInput = z.input<typeof ConfigSchema>;

type Layer = Record<string, unknown>;

function isObject(value: unknown): value is Layer {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep-merge layers; later layers win, `undefined` never overrides. */
export function mergeLayers(...layers: Layer[]): Layer {
  const out: Layer = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      const prev = out[key];
      out[key] = isObject(prev) && isObject(value) ? mergeLayers(prev, value) : value;
    }
  }
  return out;
}

function num(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : Number.NaN;
}

/** The configuration the `MMRAG_*` environment variables give. */
export function configFromEnv(env: NodeJS.ProcessEnv): Layer {
  return {
    kb: env.MMRAG_KB || undefined,
    embed: {
      model: env.MMRAG_EMBED_MODEL || undefined,
      dtype: env.MMRAG_EMBED_DTYPE || undefined,
      cacheDir: env.MMRAG_CACHE_DIR || undefined,
      textModel: env.MMRAG_TEXT_MODEL || undefined,
      allowRemote: env.MMRAG_OFFLINE === '1' ? false : undefined,
    },
    search: {
      scoring: env.MMRAG_SCORING || undefined,
      mode: env.MMRAG_SEARCH_MODE || undefined,
      level: num(env.MMRAG_LEVEL),
      rerank: {
        provider: env.MMRAG_RERANK || undefined,
        model: env.MMRAG_RERANK_MODEL || undefined,
        url: env.MMRAG_RERANK_URL || undefined,
        apiKey: env.MMRAG_RERANK_API_KEY || undefined,
      },
    },
    ingest: { ocr: env.MMRAG_OCR === '0' ? false : env.MMRAG_OCR === '1' ? true : undefined },
    transcribe: {
      provider: env.MMRAG_TRANSCRIBE || undefined,
      model: env.MMRAG_TRANSCRIBE_MODEL || undefined,
      url: env.MMRAG_TRANSCRIBE_URL || undefined,
      // Never the LLM's key: a key goes only to the service it was issued for (OpenAI's, below, in resolveConfig).
      apiKey: env.MMRAG_TRANSCRIBE_API_KEY || undefined,
    },
    llm: {
      provider: env.MMRAG_LLM || undefined,
      url: env.MMRAG_LLM_URL || undefined,
      model: env.MMRAG_LLM_MODEL || undefined,
      apiKey: env.MMRAG_LLM_API_KEY || env.OPENAI_API_KEY || undefined,
      timeoutMs: num(env.MMRAG_LLM_TIMEOUT_MS),
    },
  };
}

/** The config file: `--config PATH`, `MMRAG_CONFIG`, or `mmrag.config.json` in the working directory. */
export function readConfigFile(path: string | undefined, cwd: string): Layer {
  const explicit = path !== undefined;
  const file = resolve(cwd, path ?? 'mmrag.config.json');
  if (!existsSync(file)) {
    if (explicit) throw new MmragError(`Config file not found: ${file}`, 'Check the path given to --config.');
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MmragError(`Config file ${file} is not valid JSON: ${(err as Error).message}`, 'Fix the file.');
  }
  if (!isObject(parsed)) throw new MmragError(`Config file ${file} must hold a JSON object.`);
  return parsed;
}

/** Validate merged layers into a Config, with errors that name the bad setting. */
export function parseConfig(layer: Layer): Config {
  const result = ConfigSchema.safeParse(layer);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (issue) => `  ${issue.path.join('.') || '(root)'}: ${issue.message}`,
  );
  throw new MmragError(
    `Invalid configuration:\n${problems.join('\n')}`,
    'Fix the setting in your flags, MMRAG_* environment variables or config file.',
    'invalid_config',
  );
}

export interface ResolveConfigOptions {
  /** Settings from command-line flags (highest precedence). */
  flags?: ConfigInput;
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** defaults < config file < MMRAG_* environment < flags. */
export function resolveConfig(options: ResolveConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = readConfigFile(options.configPath ?? (env.MMRAG_CONFIG || undefined), cwd);
  const config = parseConfig(mergeLayers(file, configFromEnv(env), (options.flags ?? {}) as Layer));
  // OPENAI_API_KEY is OpenAI's: it goes to a transcription endpoint only when that endpoint is OpenAI's own.
  if (!config.transcribe.apiKey && env.OPENAI_API_KEY && isOpenAiEndpoint(config.transcribe.url)) {
    config.transcribe.apiKey = env.OPENAI_API_KEY;
  }
  return config;
}

/** Whether a base URL is OpenAI's API (unset: the default, which is OpenAI's). */
function isOpenAiEndpoint(url: string | undefined): boolean {
  if (!url) return true;
  try {
    return new URL(url).hostname === 'api.openai.com';
  } catch {
    return false;
  }
}

/** A URL as it may be shown (credentials and query string hidden). */
function safeUrl(url: string | undefined): string | undefined {
  if (!url) return url;
  return urlHasSecrets(url) ? `${displayUrl(url)} (credentials hidden)` : url;
}

/** The configuration with secrets removed, safe to print or send to a browser. */
export function redactConfig(config: Config): Config {
  return {
    ...config,
    llm: { ...config.llm, url: safeUrl(config.llm.url), apiKey: config.llm.apiKey ? '***' : undefined },
    transcribe: {
      ...config.transcribe,
      url: safeUrl(config.transcribe.url),
      apiKey: config.transcribe.apiKey ? '***' : undefined,
    },
    search: {
      ...config.search,
      rerank: {
        ...config.search.rerank,
        url: safeUrl(config.search.rerank.url),
        apiKey: config.search.rerank.apiKey ? '***' : undefined,
      },
    },
  };
}
