import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../config.js';
import type { Embedder, TextSpace } from '../embed/embedder.js';
import { errorMessage, MmragError } from '../errors.js';
import { decodeToRgb, EMBED_MAX_SIDE } from '../media/image-decode.js';
import { meanVector } from '../vector/dot.js';
import type { Reranker } from './rerank.js';
import {
  defaultModalityParams,
  type Level,
  type ModalityParams,
  type QueryForms,
  type Scoring,
  type SearchMode,
  type SearchPlan,
} from './search.js';

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
  /**
   * Also decide whether the documents can answer the query (the answerability gate, docs/scoring.md): the result
   * then carries `answerability`. Text queries only.
   */
  judge?: boolean;
}

export interface SearchQuery {
  text?: string;
  /** Path of a picture to search by (alone, or with text: the two query vectors are averaged). */
  image?: string;
  /** The picture's bytes, instead of a path (an upload). */
  imageBytes?: Uint8Array;
}

/**
 * The configured reranker, created on first use and then shared (undefined when none is configured). The
 * reranker module, and the model behind it, are loaded only when a query asks for reranking.
 */
export function lazyReranker(
  rerank: Config['search']['rerank'],
  embed: Config['embed'],
): () => Promise<Reranker | undefined> {
  let reranker: Promise<Reranker | undefined> | undefined;
  return () => {
    reranker ??= import('./rerank.js').then((m) => m.createConfiguredReranker(rerank, embed));
    return reranker;
  };
}

/** What planning a query needs besides the configuration. */
export interface PlanContext {
  /** The configured reranker, loaded on first need (undefined: none configured). */
  reranker: () => Promise<Reranker | undefined>;
  /** A dedicated text embedder exists (its ranking of text items joins the fusion at level 3). */
  dedicatedTextSpace: boolean;
}

/** The plan for one query: the configuration, then the per-query options. */
export async function planSearch(
  search: Config['search'],
  options: SearchOptions,
  context: PlanContext,
): Promise<SearchPlan> {
  const scoring = options.scoring ?? search.scoring;
  // An explicit scoring asks for the reference vector search unless a mode is given too.
  const mode = options.mode ?? (options.scoring ? 'vector' : search.mode);
  const base = defaultModalityParams(search, scoring);
  const plan: SearchPlan = {
    level: options.level ?? search.level,
    mode,
    scoring,
    text: { ...base.text, ...definedOnly(options.text), thresholdSet: options.text?.threshold !== undefined },
    image: {
      ...base.image,
      ...definedOnly(options.image),
      thresholdSet: options.image?.threshold !== undefined,
    },
    fusion: search.fusion,
    candidates: search.candidates,
    diversity: options.diversity ?? search.diversity,
    dedicatedTextSpace: context.dedicatedTextSpace,
  };
  if (options.where?.trim()) {
    const { parseWhere, matchesWhere } = await import('./filter.js');
    const filter = parseWhere(options.where);
    plan.where = (item) => matchesWhere(item, filter);
  }
  if (options.rerank !== false) {
    const reranker =
      options.rerank || search.rerank.provider !== 'none' ? await context.reranker() : undefined;
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

/** The models a query is embedded with. */
export interface QueryModels {
  embedder(): Promise<Embedder>;
  textSpace(): Promise<TextSpace>;
}

/**
 * The query in every form the plan's rankings need: the words (BM25, reranking), the CLIP vector (level 3: the
 * text projection, the picture's, or their mean) and the text-form vector (levels 1-2, or a dedicated text model).
 * `adaptText` (the query adapter, when there is one) maps the text projection before it is used or averaged
 * with a picture's; pictures' vectors and the text forms of levels 1-2 are left as they are.
 */
export async function embedQuery(
  query: SearchQuery,
  level: Level,
  models: QueryModels,
  maxImagePixels: number,
  adaptText?: (vector: Float32Array) => Float32Array,
): Promise<QueryForms> {
  const byPicture = Boolean(query.image || query.imageBytes);
  if (byPicture && level !== 3) {
    throw new MmragError(
      `Searching by a picture needs level 3 (CLIP space); level ${level} searches the text forms of items.`,
      'Use --level 3, or describe the picture in words.',
      'bad_query',
    );
  }
  const forms: QueryForms = { text: query.text?.trim() || undefined };
  if (level === 3)
    forms.clip = await clipQueryVector(query, await models.embedder(), maxImagePixels, adaptText);
  if (forms.text) {
    const space = await models.textSpace();
    if (space.isClip && level === 3 && !byPicture) forms.textForm = forms.clip;
    else if (level !== 3 || !space.isClip)
      forms.textForm = (await space.embedder.embedTexts([forms.text]))[0]!;
  }
  return forms;
}

async function clipQueryVector(
  query: SearchQuery,
  embedder: Embedder,
  maxImagePixels: number,
  adaptText: ((vector: Float32Array) => Float32Array) | undefined,
): Promise<Float32Array> {
  let textVector = query.text?.trim() ? (await embedder.embedTexts([query.text]))[0]! : undefined;
  if (textVector && adaptText) textVector = adaptText(textVector);
  let imageVector: Float32Array | undefined;
  if (query.image || query.imageBytes) {
    let rgb: Awaited<ReturnType<typeof decodeToRgb>>;
    try {
      const bytes = query.imageBytes ?? (await readFile(resolve(query.image!)));
      rgb = await decodeToRgb(bytes, { maxPixels: maxImagePixels, maxSide: EMBED_MAX_SIDE });
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

/** Follow-ups this short ("and the blue one?") are read together with the question before them. */
const FOLLOW_UP_WORDS = 8;

/**
 * What to retrieve for a question in a conversation: a short follow-up leans on the previous question for its
 * subject, so both are searched; a full question stands on its own. The model still sees the exact question.
 */
export function retrievalText(
  question: string | undefined,
  history: ReadonlyArray<{ role: 'user' | 'assistant'; content: string }> | undefined,
): string | undefined {
  const previous = history
    ?.filter((m) => m.role === 'user')
    .at(-1)
    ?.content.trim();
  if (!question || !previous) return question;
  return question.trim().split(/\s+/).length <= FOLLOW_UP_WORDS ? `${previous} ${question}` : question;
}

/** The entries of an object whose value is not undefined (an override that leaves the rest alone). */
export function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
