import type { Config } from '../config.js';
import { errorMessage, MmragError } from '../errors.js';
import type { Answerability, Hit, Level, SearchResult } from '../types.js';
import type { ChatImage, LanguageModel } from './llm.js';
import { buildPrompt, type PromptStyle } from './prompt.js';

/** How to answer one question (the facade's `AskOptions` adds the search options). */
export interface AnswerOptions {
  /** Called with each piece of the answer as it streams in. */
  onToken?: (text: string) => void;
  signal?: AbortSignal;
  /** Use this model instead of the configured one (null: no model, sources only). */
  llm?: LanguageModel | null;
  /** Override parts of the configured LLM settings for this question (provider, model, url). */
  llmConfig?: Partial<Config['llm']>;
  /** The conversation so far, oldest first: it goes before the question so follow-ups make sense. */
  history?: Array<{ role: 'user' | 'assistant'; content: string }>;
  /** `mmrag` (numbered sources the answer cites) or `reference` (the reference pipeline's prompt, exactly). */
  prompt?: PromptStyle;
  /** The answerability gate (default: the `search.gate` setting, on): false asks the model whatever was found. */
  gate?: boolean;
  /**
   * Called once retrieval is done and the prompt built, before the model is asked: the sources can be shown
   * while the answer is still to come, and the exact prompt with them.
   */
  onRetrieved?: (retrieved: Retrieved) => void;
}

/** What retrieval found for a question, and the message made of it. */
export interface Retrieved {
  sources: Hit[];
  prompt: string;
  attached: AttachedPicture[];
  level: Level;
  /** Whether a model will be asked (false: no model; the sources are the answer). */
  willAnswer: boolean;
}

/** A picture attached to the message, in the order the model received them. */
export interface AttachedPicture {
  /** The item it is the picture of. */
  id: string;
  /** The stored copy's path (what the prompt's Image Path names). */
  path: string;
}

/** Why there is no answer (no model reachable, or the model failed). */
export interface AskError {
  code: string;
  message: string;
  hint?: string;
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
  /** The text the model was sent (or would have been sent), exactly. */
  prompt: string;
  /** The pictures attached to that message, in order (none at level 1). */
  attached: AttachedPicture[];
  /** The level that answered (1: no pictures were shown to the model). */
  level: Level;
  /**
   * Whether the documents can answer the question. False: the answerability gate found nothing close enough,
   * the model was not asked, `answer` says the documents do not say, and `sources` are the closest ones.
   */
  answerable: boolean;
  /** What the gate weighed, when it ran (`--no-gate` turns it off). */
  answerability?: Answerability;
  error?: AskError;
}

/** What `ask` answers when the documents do not hold the answer (the model is not asked). */
export const NOT_IN_DOCUMENTS =
  'Your documents do not seem to say: nothing in the knowledge base is close enough to this question. The closest sources are listed below.';

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

export function asErrorValue(err: unknown): AskError {
  if (err instanceof MmragError) return { code: err.code, message: err.message, hint: err.hint };
  return { code: 'llm_error', message: errorMessage(err) };
}

/**
 * The model that answers this question: the one passed in, or the configured one with this question's overrides
 * (a different provider does not inherit the configured provider's URL and model). Undefined with an error value
 * when there is none: answering turned off, or no Ollama answering in `auto` mode.
 */
export async function chooseLanguageModel(
  configured: Config['llm'],
  options: Pick<AnswerOptions, 'llm' | 'llmConfig'>,
): Promise<{ llm: LanguageModel } | { llm: undefined; error: AskError }> {
  if (options.llm === null)
    return { llm: undefined, error: noModelError(configured, options.llmConfig ?? {}) };
  if (options.llm) return { llm: options.llm };
  const override = options.llmConfig ?? {};
  const base =
    override.provider && override.provider !== configured.provider
      ? { ...configured, url: undefined, model: undefined }
      : configured;
  let llm: LanguageModel | undefined;
  try {
    const { createLanguageModel } = await import('./create.js');
    llm = await createLanguageModel({ ...base, ...definedOnly(override) });
  } catch (err) {
    return { llm: undefined, error: asErrorValue(err) };
  }
  return llm ? { llm } : { llm: undefined, error: noModelError(configured, override) };
}

function noModelError(configured: Config['llm'], override: Partial<Config['llm']>): AskError {
  const effective = { ...configured, ...definedOnly(override) };
  const url = effective.url ?? 'http://127.0.0.1:11434';
  return effective.provider === 'none'
    ? { code: 'llm_none', message: 'No language model answered: answering is turned off (--llm none).' }
    : {
        code: 'llm_none',
        message: `No language model answered: Ollama did not answer at ${url}.`,
        hint: 'Start Ollama (ollama serve; ollama pull llama3.2-vision), or use --llm openai --llm-url URL for an OpenAI-compatible server.',
      };
}

export interface AnswerRequest {
  question: string;
  /** What retrieval found for it. */
  found: SearchResult;
  /** The model, or the reason there is none. */
  model: { llm: LanguageModel } | { llm: undefined; error: AskError };
  /** The answerability gate's verdict; when not answerable, the model is not asked. */
  answerability?: Answerability;
  /** Reads a hit's stored picture (pictures go to the model at levels 2 and 3). */
  readPicture: (hit: Hit) => Promise<ChatImage | undefined>;
  history?: AnswerOptions['history'];
  prompt?: PromptStyle;
  onRetrieved?: AnswerOptions['onRetrieved'];
  temperature?: number;
  signal?: AbortSignal;
  onToken?: (text: string) => void;
}

/**
 * Build the reference prompt from the hits, attach the pictures, and stream the model's answer. Failures are
 * values (`error`), never exceptions: the sources are an answer of their own.
 */
export async function answerFromHits(request: AnswerRequest): Promise<AskResult> {
  const { found, question } = request;
  const sources = [...found.text, ...found.images];
  const level = found.level ?? 3;
  const prompt = buildPrompt(request.prompt ?? 'mmrag', question, found.text, found.images, level);
  const result: AskResult = {
    question,
    answer: null,
    sources,
    citations: [],
    model: null,
    prompt,
    attached: [],
    level,
    answerable: request.answerability?.answerable ?? true,
    ...(request.answerability ? { answerability: request.answerability } : {}),
  };
  const asking = request.model.llm !== undefined && result.answerable;
  const images: ChatImage[] = [];
  // Level 1 translates pictures to text: the model sees their captions, never the pictures.
  for (const hit of level === 1 ? [] : found.images) {
    const image = await request.readPicture(hit);
    if (!image) continue;
    images.push(image);
    result.attached.push({ id: hit.id, path: hit.image ?? '' });
  }
  request.onRetrieved?.({ sources, prompt, attached: result.attached, level, willAnswer: asking });
  if (!result.answerable) {
    result.answer = NOT_IN_DOCUMENTS;
    return result;
  }
  if (!request.model.llm) {
    result.error = request.model.error;
    return result;
  }
  const llm = request.model.llm;
  let answer = '';
  try {
    for await (const piece of llm.stream({
      messages: [...(request.history ?? []), { role: 'user', content: prompt, images }],
      temperature: request.temperature,
      signal: request.signal,
    })) {
      answer += piece;
      request.onToken?.(piece);
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

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
