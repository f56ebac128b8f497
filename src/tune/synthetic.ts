import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage, MmragError } from '../errors.js';
import type { ChatImage, LanguageModel } from '../generate/llm.js';
import type { StoredItem } from '../types.js';
import { seededRandom, shuffle } from './random.js';

/** One question an LLM wrote for an item, as cached (one JSON line each). */
export interface SyntheticQuestion {
  item: string;
  query: string;
  /** `provider/model` that wrote it. */
  model: string;
  at: string;
}

/** Inside the knowledge base folder: kept across runs (and by `tune --reset`), so a run resumes where it stopped. */
export const SYNTHETIC_CACHE = join('tune', 'synthetic.jsonl');
/** The most questions one run may ask for. */
export const MAX_SYNTHETIC = 5000;
/** Text chunks shorter than this say too little to write a question about. */
const MIN_CHUNK_CHARS = 40;
/** Stop after this many failures in a row (the cache keeps what was written). */
const MAX_FAILURES_IN_A_ROW = 3;
/** Failures that no retry on another item can mend. */
const FATAL_CODES = new Set(['llm_unreachable', 'llm_model_missing', 'llm_auth', 'aborted']);

export function syntheticCachePath(dir: string): string {
  return join(dir, SYNTHETIC_CACHE);
}

/** The cached questions; a line torn by a crash mid-write is skipped. */
export function readSyntheticCache(dir: string): SyntheticQuestion[] {
  const path = syntheticCachePath(dir);
  if (!existsSync(path)) return [];
  const out: SyntheticQuestion[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const value = JSON.parse(line) as Partial<SyntheticQuestion>;
      if (typeof value.item === 'string' && typeof value.query === 'string' && value.query.trim())
        out.push({
          item: value.item,
          query: value.query,
          model: String(value.model ?? ''),
          at: String(value.at ?? ''),
        });
    } catch {
      // A torn last line.
    }
  }
  return out;
}

export function questionPrompt(item: StoredItem): string {
  const where = [item.title, item.section].filter((s) => s.trim()).join(' / ');
  if (item.modality === 'image') {
    return (
      'Write one short search query, in the words a person would type, that should find this picture in a ' +
      'collection of documents. Describe what is visible; do not copy the caption. Reply with the query only.' +
      (where ? `\nThe picture appears in: ${where}` : '') +
      (item.text.trim() ? `\nIts caption: ${item.text.trim()}` : '')
    );
  }
  return (
    'Write one question that the passage below answers. The question must make sense on its own, without the ' +
    'passage, and must not copy its sentences. Reply with the question only.' +
    (where ? `\nDocument: ${where}` : '') +
    `\nPassage: ${item.text.trim()}`
  );
}

/** The question out of a model's reply: the first line, without a label, numbering or quotes. */
export function cleanReply(reply: string): string | undefined {
  const line = reply
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  if (!line) return undefined;
  const text = line
    .replace(/^(question|query|search query)\s*:\s*/i, '')
    .replace(/^\d+[.)]\s*/, '')
    .replace(/^["'“”‘’]+|["'“”‘’]+$/g, '')
    .trim();
  if (!/\p{L}{2,}/u.test(text)) return undefined;
  return text.length > 300 ? text.slice(0, 300) : text;
}

/** The items a run writes questions for: a seeded sample, the same for the same items and seed. */
export function sampleForQuestions(items: StoredItem[], count: number, seed: number): StoredItem[] {
  const eligible = items
    .filter((i) => (i.modality === 'image' ? Boolean(i.media) : i.text.trim().length >= MIN_CHUNK_CHARS))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return shuffle(eligible, seededRandom(seed)).slice(0, count);
}

export interface SyntheticProgress {
  done: number;
  total: number;
  /** Questions written by this run so far. */
  written: number;
  failed: number;
}

export interface SyntheticOptions {
  dir: string;
  llm: LanguageModel;
  items: StoredItem[];
  /** How many items to have questions for (cached ones count). */
  count: number;
  seed: number;
  readPicture: (item: StoredItem) => Promise<ChatImage | undefined>;
  onProgress?: (progress: SyntheticProgress) => void;
  signal?: AbortSignal;
}

export interface SyntheticResult {
  /** Questions for the sampled items (cached and new). */
  questions: SyntheticQuestion[];
  written: number;
  cached: number;
  failed: number;
  /** Why pictures were skipped, when the model cannot take them. */
  note?: string;
}

/**
 * Have the LLM write one question for each of `count` sampled chunks and pictures. Bounded (at most
 * MAX_SYNTHETIC), cached in the knowledge base folder line by line as each answer arrives, and resumable: items
 * with a cached question are not asked again, so a stopped run goes on where it stopped.
 */
export async function writeSyntheticQuestions(options: SyntheticOptions): Promise<SyntheticResult> {
  const { dir, llm, count, seed } = options;
  if (!Number.isInteger(count) || count < 1 || count > MAX_SYNTHETIC) {
    throw new MmragError(
      `--synthetic expects a whole number from 1 to ${MAX_SYNTHETIC}, got ${count}.`,
      undefined,
      'usage',
    );
  }
  const sample = sampleForQuestions(options.items, count, seed);
  const cachedByItem = new Map<string, SyntheticQuestion>();
  for (const q of readSyntheticCache(dir)) if (!cachedByItem.has(q.item)) cachedByItem.set(q.item, q);
  const path = syntheticCachePath(dir);
  mkdirSync(dirname(path), { recursive: true });
  const questions: SyntheticQuestion[] = [];
  const result: SyntheticResult = { questions, written: 0, cached: 0, failed: 0 };
  let failuresInARow = 0;
  let picturesRefused = false;
  const model = `${llm.provider}/${llm.model}`;
  const report = (done: number) =>
    options.onProgress?.({ done, total: sample.length, written: result.written, failed: result.failed });
  for (const [n, item] of sample.entries()) {
    const cached = cachedByItem.get(item.id);
    if (cached) {
      questions.push(cached);
      result.cached++;
      report(n + 1);
      continue;
    }
    if (options.signal?.aborted)
      throw new MmragError('Stopped; the questions written so far are kept.', undefined, 'aborted');
    if (item.modality === 'image' && picturesRefused) {
      report(n + 1);
      continue;
    }
    try {
      const images: ChatImage[] = [];
      if (item.modality === 'image') {
        const picture = await options.readPicture(item);
        if (!picture) {
          report(n + 1);
          continue;
        }
        images.push(picture);
      }
      let reply = '';
      for await (const piece of llm.stream({
        messages: [{ role: 'user', content: questionPrompt(item), images }],
        temperature: 0.7,
        signal: options.signal,
      })) {
        reply += piece;
      }
      const query = cleanReply(reply);
      if (!query)
        throw new MmragError(`The model's reply held no question: ${JSON.stringify(reply.slice(0, 80))}`);
      const question: SyntheticQuestion = { item: item.id, query, model, at: new Date().toISOString() };
      appendFileSync(path, `${JSON.stringify(question)}\n`);
      questions.push(question);
      result.written++;
      failuresInARow = 0;
    } catch (err) {
      const code = err instanceof MmragError ? err.code : 'llm_error';
      if (code === 'llm_images_refused' && item.modality === 'image') {
        picturesRefused = true;
        result.note = `${model} cannot take pictures: questions were written for text chunks only.`;
      } else {
        result.failed++;
        failuresInARow++;
        if (FATAL_CODES.has(code) || failuresInARow >= MAX_FAILURES_IN_A_ROW) {
          throw new MmragError(
            `Writing questions stopped after ${result.written + result.cached} of ${sample.length}: ${errorMessage(err)}`,
            `The questions written so far are kept in ${path}; run the same command again to go on.`,
            code,
            { cause: err },
          );
        }
      }
    }
    report(n + 1);
  }
  return result;
}
