import { MmragError } from '../errors.js';
import { type EvalQuestion, isRelevant } from '../eval/dataset.js';
import type { PairKind, SplitCounts } from '../retrieve/query-adapter.js';
import type { Modality, StoredItem } from '../types.js';
import { hashUnit, seededRandom, shuffle } from './random.js';

/** A query in words and the stored item it should find. */
export interface TextPair {
  query: string;
  item: string;
  modality: Modality;
  kind: PairKind;
  /** Eval questions and pairs-file lines: the question (it goes to one side of the split as a whole). */
  group?: string;
}

/** Captions loaders write when a picture has none: they say nothing about the picture. */
const PLACEHOLDER_CAPTIONS = new Set(['no caption available', 'image', 'picture', 'photo', 'figure']);
/** A query text needs at least this many letters to say anything. */
const MIN_LETTERS = 3;
/** At most this many items per identical query (a long section must not drown every other pair). */
export const MAX_ITEMS_PER_QUERY = 8;

function cleanQuery(text: string): string | undefined {
  const flat = text.replace(/\s+/g, ' ').trim();
  if ((flat.match(/\p{L}/gu) ?? []).length < MIN_LETTERS) return undefined;
  if (PLACEHOLDER_CAPTIONS.has(flat.toLowerCase())) return undefined;
  // The CLIP text tower reads 77 tokens; a longer query adds nothing but cost.
  return flat.length > 300 ? flat.slice(0, 300) : flat;
}

/** Pictures with their captions (placeholders such as "No caption available" are skipped). */
export function captionPairs(pictures: StoredItem[]): TextPair[] {
  const pairs: TextPair[] = [];
  for (const item of pictures) {
    const query = cleanQuery(item.text);
    if (query) pairs.push({ query, item: item.id, modality: 'image', kind: 'caption' });
  }
  return pairs;
}

/** Text chunks with their section title (or the document title when the chunk has no section of its own). */
export function sectionPairs(chunks: StoredItem[]): TextPair[] {
  const pairs: TextPair[] = [];
  for (const item of chunks) {
    const section = item.section.trim();
    const title = item.title.trim();
    const heading = section && section !== title ? section : title;
    // A title that is only a file name names no subject.
    if (!heading || /^[\w.-]+\.\w{1,5}$/.test(heading)) continue;
    const query = cleanQuery(heading);
    if (query) pairs.push({ query, item: item.id, modality: 'text', kind: 'section' });
  }
  return pairs;
}

/**
 * The items a `relevant` entry names: an item id, or every item of the sources it matches (a file name), at most
 * `MAX_ITEMS_PER_QUERY` of those, chosen by seed.
 */
function resolveEntry(
  entry: string,
  byId: Map<string, StoredItem>,
  items: StoredItem[],
  seed: number,
): StoredItem[] {
  const exact = byId.get(entry);
  if (exact) return [exact];
  const matching = items.filter((item) => isRelevant(item, entry));
  return shuffle(matching, seededRandom(Math.floor(hashUnit(entry, seed) * 2 ** 31))).slice(
    0,
    MAX_ITEMS_PER_QUERY,
  );
}

export interface QuestionPairs {
  pairs: TextPair[];
  /** Questions that named nothing in the knowledge base, or were by picture: not used. */
  unused: Array<{ line: number; reason: string }>;
}

/**
 * An eval file's questions (or a pairs file's lines) with the items their `relevant` entries name. Questions
 * by picture are left out: the adapter maps text queries.
 */
export function questionPairs(
  questions: EvalQuestion[],
  items: StoredItem[],
  kind: 'eval' | 'file',
  seed: number,
): QuestionPairs {
  const byId = new Map(items.map((i) => [i.id, i]));
  const pairs: TextPair[] = [];
  const unused: QuestionPairs['unused'] = [];
  for (const question of questions) {
    const query = cleanQuery(question.query);
    if (question.image || !query) {
      unused.push({
        line: question.line,
        reason: question.image ? 'a question by picture' : 'no words to learn from',
      });
      continue;
    }
    const found = new Map<string, StoredItem>();
    for (const entry of question.relevant)
      for (const item of resolveEntry(entry, byId, items, seed)) found.set(item.id, item);
    if (found.size === 0) {
      unused.push({ line: question.line, reason: 'names nothing in the knowledge base' });
      continue;
    }
    for (const item of found.values())
      pairs.push({
        query,
        item: item.id,
        modality: item.modality,
        kind,
        group: `${kind}:${query.toLowerCase()}`,
      });
  }
  return { pairs, unused };
}

/**
 * A pairs file: one JSON object a line, `{"query": "...", "item": "<item id>"}` or
 * `{"query": "...", "relevant": ["<item id or file name>", ...]}`.
 */
export function parsePairsFile(jsonl: string): EvalQuestion[] {
  const questions: EvalQuestion[] = [];
  jsonl.split(/\r?\n/).forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    const bad = (message: string) =>
      new MmragError(
        `Line ${line} of the pairs file: ${message}`,
        'Each line is {"query": "...", "item": "<item id>"} or {"query": "...", "relevant": ["<item id or file name>", ...]}.',
        'usage',
      );
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw bad(`not valid JSON (${(err as Error).message}).`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw bad('expected a JSON object.');
    const obj = value as Record<string, unknown>;
    const unknown = Object.keys(obj).filter((k) => !['query', 'item', 'relevant'].includes(k));
    if (unknown.length > 0) throw bad(`unknown field ${unknown.join(', ')} (known: query, item, relevant).`);
    if (typeof obj.query !== 'string' || obj.query.trim() === '')
      throw bad('"query" must be a non-empty string.');
    const relevant: string[] = [];
    if (obj.item !== undefined) {
      if (typeof obj.item !== 'string' || obj.item === '') throw bad('"item" must be an item id.');
      relevant.push(obj.item);
    }
    if (obj.relevant !== undefined) {
      if (!Array.isArray(obj.relevant) || obj.relevant.some((e) => typeof e !== 'string' || e === ''))
        throw bad('"relevant" must be a list of item ids or file names.');
      relevant.push(...(obj.relevant as string[]));
    }
    if (relevant.length === 0) throw bad('give "item" or "relevant".');
    questions.push({ line, query: obj.query, relevant: [...new Set(relevant)] });
  });
  if (questions.length === 0)
    throw new MmragError('The pairs file has no pairs.', 'Write one JSON object per line.', 'usage');
  return questions;
}

/** Keep at most `max` items per identical query (by seed); pairs from files are kept whole. */
export function capPerQuery(pairs: TextPair[], max: number, seed: number): TextPair[] {
  const byQuery = new Map<string, TextPair[]>();
  for (const pair of pairs) {
    const key = `${pair.modality}\u0000${pair.query.toLowerCase()}`;
    const list = byQuery.get(key) ?? [];
    list.push(pair);
    byQuery.set(key, list);
  }
  const random = seededRandom(seed);
  const kept: TextPair[] = [];
  for (const list of byQuery.values()) {
    const fromFiles = list.filter((p) => p.group !== undefined);
    const built = list.filter((p) => p.group === undefined);
    kept.push(...fromFiles, ...(built.length > max ? shuffle(built, random).slice(0, max) : built));
  }
  return kept;
}

export type Side = keyof SplitCounts;

export interface SplitFractions {
  validation: number;
  test: number;
}

export const DEFAULT_SPLIT: SplitFractions = { validation: 0.15, test: 0.15 };

/** Which side of the split a key falls on: the same key always falls on the same side for a seed. */
export function sideOf(key: string, seed: number, fractions: SplitFractions = DEFAULT_SPLIT): Side {
  const u = hashUnit(key, seed);
  if (u < fractions.test) return 'test';
  if (u < fractions.test + fractions.validation) return 'validation';
  return 'train';
}

export interface SplitPairs {
  train: TextPair[];
  validation: TextPair[];
  test: TextPair[];
  /** Items per side (every item of the knowledge base, paired or not). */
  items: SplitCounts;
}

/**
 * What decides an item's side of the split: its content, not its id (which names its source path). The same
 * picture or the same passage in two documents falls on one side, so a held-out item is never trained on under
 * another id; and the split does not change when the files move.
 */
export function splitKey(item: StoredItem): string {
  if (item.modality === 'image' && item.media) return `picture:${item.media}`;
  return `${item.modality}:${item.text.replace(/\s+/g, ' ').trim()}`;
}

/**
 * The held-out split, by item (keyed by `splitKey`): an item's pairs all go where the item goes, so no pair whose target is held out is
 * ever trained on. An eval question (or pairs-file line) goes to one side as a whole, by its line: a held-out
 * question is never trained on, with any of its items; a training question keeps only its pairs whose item is
 * on the training side.
 */
export function splitPairs(
  pairs: TextPair[],
  items: Array<{ id: string; key: string }>,
  seed: number,
  fractions: SplitFractions = DEFAULT_SPLIT,
): SplitPairs {
  const counts: SplitCounts = { train: 0, validation: 0, test: 0 };
  const itemSide = new Map<string, Side>();
  for (const { id, key } of items) {
    const side = sideOf(`item:${key}`, seed, fractions);
    itemSide.set(id, side);
    counts[side]++;
  }
  const out: SplitPairs = { train: [], validation: [], test: [], items: counts };
  for (const pair of pairs) {
    const target = itemSide.get(pair.item) ?? sideOf(`item:${pair.item}`, seed, fractions);
    if (pair.group === undefined) {
      out[target].push(pair);
      continue;
    }
    const question = sideOf(pair.group, seed, fractions);
    if (question !== 'train') out[question].push(pair);
    else if (target === 'train') out.train.push(pair);
    // A training question's pair whose item is held out: neither trained on nor measured.
  }
  return out;
}

/** Count pairs by kind. */
export function countByKind(pairs: TextPair[]): Partial<Record<PairKind, number>> {
  const counts: Partial<Record<PairKind, number>> = {};
  for (const p of pairs) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
  return counts;
}
