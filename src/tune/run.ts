import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Embedder } from '../embed/embedder.js';
import { errorMessage, MmragError } from '../errors.js';
import { createLanguageModel } from '../generate/create.js';
import type { ChatImage } from '../generate/llm.js';
import type { KnowledgeBase } from '../kb.js';
import {
  ADAPTER_FORMAT,
  ADAPTER_FORMAT_VERSION,
  type AdapterInfo,
  APPLIES_TO,
  type HeldOutComparison,
  type LoadedAdapter,
  readAdapter,
  type TrainingSummary,
} from '../retrieve/query-adapter.js';
import type { Modality, StoredItem } from '../types.js';
import { l2normalize } from '../vector/dot.js';
import { VectorMatrix } from '../vector/matrix.js';
import {
  compareFigures,
  heldOutFigures,
  type ItemMatrices,
  type RankingExample,
  type RankingFigures,
} from './heldout.js';
import {
  capPerQuery,
  captionPairs,
  countByKind,
  DEFAULT_SPLIT,
  MAX_ITEMS_PER_QUERY,
  parsePairsFile,
  questionPairs,
  type SplitFractions,
  sectionPairs,
  splitKey,
  splitPairs,
  type TextPair,
} from './pairs.js';
import { type SyntheticProgress, type SyntheticResult, writeSyntheticQuestions } from './synthetic.js';
import {
  DEFAULT_TRAIN_SETTINGS,
  type TrainingExample,
  type TrainProgress,
  type TrainSettings,
  trainAdapter,
} from './train.js';

export interface TuneOptions {
  /** A JSONL file of extra pairs: `{"query", "item"}` or `{"query", "relevant": [...]}` per line. */
  pairsFile?: string;
  /** An eval questions file: its questions become pairs (held-out ones are only measured). */
  evalFile?: string;
  epochs?: number;
  /** Have the configured LLM write questions for this many sampled chunks and pictures. */
  synthetic?: number;
  /** Low-rank adapter of this rank (default: a full matrix). */
  rank?: number;
  seed?: number;
  /** Training settings beyond the ones above (benchmarks, experiments). */
  settings?: Partial<TrainSettings>;
  split?: SplitFractions;
  onEvent?: (event: TuneEvent) => void;
  signal?: AbortSignal;
}

export type TunePhase = 'synthetic' | 'pairs' | 'embedding' | 'training' | 'measuring';

export type TuneEvent =
  | { kind: 'phase'; phase: TunePhase }
  | { kind: 'synthetic'; progress: SyntheticProgress }
  | { kind: 'embedding'; done: number; total: number }
  | { kind: 'training'; progress: TrainProgress }
  | { kind: 'note'; message: string };

export interface TuneReport {
  /** True when the new adapter was kept (written to `path`). */
  kept: boolean;
  /** Why it was not kept. */
  reason?: string;
  path?: string;
  revision?: number;
  /** Test-split figures without and with the new adapter. */
  heldOut: HeldOutComparison;
  /** The adapter in place before this run, measured on the same test pairs. */
  previous?: { revision: number; createdAt: string; figures: RankingFigures };
  /** Validation figures (early stopping) of the identity and of the best epoch. */
  validation: { before: RankingFigures; best: RankingFigures };
  training: TrainingSummary;
  synthetic?: Omit<SyntheticResult, 'questions'>;
  /** Lines of the eval or pairs file that gave no pair. */
  unused: Array<{ file: string; line: number; reason: string }>;
}

/** Below these, held-out figures are noise and training has nothing to learn from. */
export const MIN_PAIRS = { train: 16, validation: 4, test: 4 };

const EMBED_BATCH = 64;

interface ModalityVectors {
  matrix: VectorMatrix;
  row: Map<string, number>;
}

async function loadVectors(
  kb: KnowledgeBase,
  modality: Modality,
): Promise<{ items: StoredItem[]; vectors: ModalityVectors | undefined }> {
  await kb.store.refresh();
  const [items, set] = await Promise.all([
    kb.store.scanItems(modality),
    kb.store.vectors(modality, 'vector'),
  ]);
  if (set.ids.length === 0) return { items, vectors: undefined };
  let matrix = set.resident && set.resident.rows === set.ids.length ? set.resident : undefined;
  if (!matrix) {
    matrix = new VectorMatrix(set.dim, { initialCapacity: set.ids.length });
    matrix.append(set.matrix.subarray(0, set.ids.length * set.dim));
  }
  return { items, vectors: { matrix, row: new Map(set.ids.map((id, i) => [id, i])) } };
}

/**
 * The items held-out queries are ranked among, and training targets come from: the items that have a pair (a
 * caption, a title, a question). Whether any other item answers a query is unknown, so counting it as a miss
 * would measure noise: a picture without a caption, just like the target, would outrank it half the time.
 */
function labeledPool(
  pairs: TextPair[],
  stored: Record<Modality, ModalityVectors | undefined>,
): { items: ItemMatrices; rows: Record<Modality, Map<string, number> | undefined> } {
  const items: ItemMatrices = {};
  const rows: Record<Modality, Map<string, number> | undefined> = { text: undefined, image: undefined };
  for (const modality of ['text', 'image'] as const) {
    const source = stored[modality];
    if (!source) continue;
    const ids = [...new Set(pairs.filter((p) => p.modality === modality).map((p) => p.item))];
    if (ids.length === 0) continue;
    const dim = source.matrix.dim;
    const all = source.matrix.view();
    const matrix = new VectorMatrix(dim, { initialCapacity: ids.length });
    const index = new Map<string, number>();
    for (const id of ids) {
      const row = source.row.get(id)!;
      index.set(id, matrix.append(all.subarray(row * dim, (row + 1) * dim)));
    }
    items[modality] = matrix;
    rows[modality] = index;
  }
  return { items, rows };
}

/** A picture's stored bytes, by item id through the facade (undefined when its file is gone). */
async function readPicture(kb: KnowledgeBase, item: StoredItem): Promise<ChatImage | undefined> {
  const media = await kb.media(item.id);
  if (!media) return undefined;
  try {
    return { bytes: new Uint8Array(await readFile(media.path)), mime: media.mime };
  } catch {
    return undefined;
  }
}

async function readQuestionsFile(path: string, what: 'eval' | 'pairs') {
  const absolute = resolve(path);
  if (!existsSync(absolute)) {
    throw new MmragError(
      `The ${what === 'eval' ? 'eval questions' : 'pairs'} file ${absolute} does not exist.`,
      undefined,
      'usage',
    );
  }
  const text = await readFile(absolute, 'utf8');
  if (what === 'pairs') return { path: absolute, questions: parsePairsFile(text) };
  const { parseQuestions } = await import('../eval/dataset.js');
  return { path: absolute, questions: parseQuestions(text, dirname(absolute)) };
}

/** Embed each distinct query once, in batches, with the text tower. */
async function embedQueries(
  texts: string[],
  embedder: Embedder,
  onProgress: (done: number) => void,
  signal?: AbortSignal,
): Promise<Map<string, Float32Array>> {
  const vectors = new Map<string, Float32Array>();
  for (let i = 0; i < texts.length; i += EMBED_BATCH) {
    if (signal?.aborted) throw new MmragError('Tuning was stopped.', undefined, 'aborted');
    const batch = texts.slice(i, i + EMBED_BATCH);
    const embedded = await embedder.embedTexts(batch);
    batch.forEach((t, j) => {
      vectors.set(t, embedded[j]!);
    });
    onProgress(Math.min(texts.length, i + EMBED_BATCH));
  }
  return vectors;
}

/**
 * Rows to leave out of each held-out query's ranking: the items of every pair (on any side) whose query the
 * model cannot tell from this one (cosine >= `sameQuery`): they are right answers too, not misses.
 */
function positivesOf(
  pairs: TextPair[],
  vectors: Map<string, Float32Array>,
  rows: Record<Modality, Map<string, number> | undefined>,
  sameQuery: number,
): (query: string, modality: Modality) => number[] {
  const perModality = new Map<
    Modality,
    { texts: string[]; matrix: VectorMatrix; items: Map<string, Set<number>> }
  >();
  for (const pair of pairs) {
    const row = rows[pair.modality]?.get(pair.item);
    if (row === undefined) continue;
    let entry = perModality.get(pair.modality);
    if (!entry) {
      const dim = vectors.get(pair.query)!.length;
      entry = { texts: [], matrix: new VectorMatrix(dim), items: new Map() };
      perModality.set(pair.modality, entry);
    }
    let items = entry.items.get(pair.query);
    if (!items) {
      items = new Set();
      entry.items.set(pair.query, items);
      entry.texts.push(pair.query);
      entry.matrix.append(l2normalize(vectors.get(pair.query)!));
    }
    items.add(row);
  }
  const cache = new Map<string, number[]>();
  return (query, modality) => {
    const key = `${modality}\u0000${query}`;
    const known = cache.get(key);
    if (known) return known;
    const entry = perModality.get(modality);
    const out = new Set<number>();
    if (entry) {
      const cos = entry.matrix.dotAll(l2normalize(vectors.get(query)!));
      entry.texts.forEach((text, i) => {
        if (text === query || cos[i]! >= sameQuery) for (const row of entry.items.get(text)!) out.add(row);
      });
    }
    const list = [...out];
    cache.set(key, list);
    return list;
  };
}

function describeFigures(f: RankingFigures, k: number): string {
  return `MRR ${f.mrr.toFixed(3)}, R@${k} ${f.recall.toFixed(3)}`;
}

/**
 * `mmrag tune`: build training pairs from the knowledge base (and the files and LLM given), hold out items for
 * validation and test, train the query adapter, and keep it only when it makes the held-out test figures better
 * (and does at least as well as the adapter already in place); otherwise say why and leave everything as it was.
 */
export async function tuneKnowledgeBase(kb: KnowledgeBase, options: TuneOptions = {}): Promise<TuneReport> {
  const emit = options.onEvent ?? (() => {});
  const dim = (await kb.stats()).dim;
  if (dim === undefined) {
    throw new MmragError(
      `The knowledge base ${kb.dir} is empty.`,
      'Add files first: mmrag ingest <files or folders>',
      'empty_kb',
    );
  }
  // Read the files first: a typo should fail before any model or LLM work.
  const evalFile = options.evalFile ? await readQuestionsFile(options.evalFile, 'eval') : undefined;
  const pairsFile = options.pairsFile ? await readQuestionsFile(options.pairsFile, 'pairs') : undefined;

  let previous: LoadedAdapter | undefined;
  try {
    previous = readAdapter(kb.dir, { embedModel: kb.embedModel, dim });
  } catch (err) {
    emit({
      kind: 'note',
      message: `The adapter in place is not usable (${errorMessage(err)}); a new one may replace it.`,
    });
  }
  // The split of the adapter in place, unless told otherwise: then its figures on the test pairs are fair (it
  // never trained on their items), and an item stays on its side as the knowledge base grows.
  const seed = options.seed ?? previous?.info.training.settings.seed ?? DEFAULT_TRAIN_SETTINGS.seed;
  const settings: Partial<TrainSettings> = {
    ...options.settings,
    seed,
    ...(options.epochs === undefined ? {} : { epochs: options.epochs }),
    ...(options.rank === undefined ? {} : { rank: options.rank }),
  };
  const sameQuery = settings.sameQuery ?? DEFAULT_TRAIN_SETTINGS.sameQuery;

  const [{ items: chunks, vectors: textVectors }, { items: pictures, vectors: imageVectors }] =
    await Promise.all([loadVectors(kb, 'text'), loadVectors(kb, 'image')]);
  const stored: Record<Modality, ModalityVectors | undefined> = { text: textVectors, image: imageVectors };
  const allItems = [...chunks, ...pictures];

  let synthetic: SyntheticResult | undefined;
  if (options.synthetic !== undefined && options.synthetic > 0) {
    emit({ kind: 'phase', phase: 'synthetic' });
    const llm = await createLanguageModel(kb.config.llm);
    if (!llm) {
      throw new MmragError(
        '--synthetic needs an LLM to write questions, and none answered.',
        'Start Ollama (ollama serve), or set --llm openai --llm-url URL; or leave --synthetic out.',
        'llm_none',
      );
    }
    synthetic = await writeSyntheticQuestions({
      dir: kb.dir,
      llm,
      items: allItems,
      count: options.synthetic,
      seed,
      readPicture: (item) => readPicture(kb, item),
      onProgress: (progress) => emit({ kind: 'synthetic', progress }),
      signal: options.signal,
    });
    if (synthetic.note) emit({ kind: 'note', message: synthetic.note });
  }

  emit({ kind: 'phase', phase: 'pairs' });
  const unused: TuneReport['unused'] = [];
  let pairs: TextPair[] = [...captionPairs(pictures), ...sectionPairs(chunks)];
  for (const [file, kind] of [
    [evalFile, 'eval'],
    [pairsFile, 'file'],
  ] as const) {
    if (!file) continue;
    const found = questionPairs(file.questions, allItems, kind, seed);
    pairs.push(...found.pairs);
    for (const u of found.unused) unused.push({ file: file.path, ...u });
  }
  const byId = new Map(allItems.map((i) => [i.id, i]));
  for (const q of synthetic?.questions ?? []) {
    const item = byId.get(q.item);
    if (item) pairs.push({ query: q.query, item: q.item, modality: item.modality, kind: 'synthetic' });
  }
  pairs = capPerQuery(
    pairs.filter((p) => stored[p.modality]?.row.has(p.item)),
    MAX_ITEMS_PER_QUERY,
    seed,
  );
  const split = splitPairs(
    pairs,
    allItems.map((i) => ({ id: i.id, key: splitKey(i) })),
    seed,
    options.split ?? DEFAULT_SPLIT,
  );
  const counts = { train: split.train.length, validation: split.validation.length, test: split.test.length };
  if (
    counts.train < MIN_PAIRS.train ||
    counts.validation < MIN_PAIRS.validation ||
    counts.test < MIN_PAIRS.test
  ) {
    throw new MmragError(
      `Too few training pairs to tune and measure: ${pairs.length} in all (${counts.train} to train on, ${counts.validation} for validation, ${counts.test} to test; at least ${MIN_PAIRS.train}, ${MIN_PAIRS.validation} and ${MIN_PAIRS.test} are needed).`,
      'Pairs come from pictures with captions and text under section titles; add more with --eval questions.jsonl, --pairs FILE.jsonl, or --synthetic N (an LLM writes questions).',
      'tune_too_little',
    );
  }

  emit({ kind: 'phase', phase: 'embedding' });
  const texts = [...new Set(pairs.map((p) => p.query))];
  const embedder = await kb.models.embedder();
  const vectors = await embedQueries(
    texts,
    embedder,
    (done) => emit({ kind: 'embedding', done, total: texts.length }),
    options.signal,
  );
  const { items, rows } = labeledPool(pairs, stored);
  const positives = positivesOf(pairs, vectors, rows, sameQuery);
  const ranking = (list: TextPair[]): RankingExample[] =>
    list.map((p) => ({
      query: vectors.get(p.query)!,
      modality: p.modality,
      target: rows[p.modality]!.get(p.item)!,
      exclude: positives(p.query, p.modality),
    }));
  const train: TrainingExample[] = split.train.map((p) => ({
    query: vectors.get(p.query)!,
    modality: p.modality,
    target: rows[p.modality]!.get(p.item)!,
    key: p.query,
  }));
  const validation = ranking(split.validation);
  const test = ranking(split.test);

  emit({ kind: 'phase', phase: 'training' });
  const result = trainAdapter({
    dim,
    items,
    train,
    validation,
    settings,
    onProgress: (progress) => emit({ kind: 'training', progress }),
    signal: options.signal,
  });

  emit({ kind: 'phase', phase: 'measuring' });
  const k = result.settings.k;
  const before = heldOutFigures(test, items, undefined, k);
  const after = heldOutFigures(test, items, result.map, k);
  const heldOut: HeldOutComparison = {
    k,
    pairs: before.pairs,
    candidates: (items.text?.rows ?? 0) + (items.image?.rows ?? 0),
    before: { pairs: before.pairs, recall: before.recall, mrr: before.mrr },
    after: { pairs: after.pairs, recall: after.recall, mrr: after.mrr },
    byModality: {},
  };
  for (const modality of ['text', 'image'] as const) {
    const b = before.byModality[modality];
    const a = after.byModality[modality];
    if (b && a) heldOut.byModality[modality] = { before: b, after: a };
  }
  const training: TrainingSummary = {
    pairs: countByKind(pairs),
    split: counts,
    items: split.items,
    epochs: result.history.length,
    bestEpoch: result.bestEpoch,
    stoppedEarly: result.stoppedEarly,
    seconds: result.seconds,
    settings: result.settings,
  };
  const report: TuneReport = {
    kept: false,
    heldOut,
    validation: { before: result.before, best: result.best },
    training,
    unused,
  };
  if (synthetic) {
    const { questions: _questions, ...rest } = synthetic;
    report.synthetic = rest;
  }
  if (previous) {
    const figures = heldOutFigures(test, items, previous.map, k);
    report.previous = {
      revision: previous.info.revision,
      createdAt: previous.info.createdAt,
      figures: { pairs: figures.pairs, recall: figures.recall, mrr: figures.mrr },
    };
  }

  const EPSILON = 1e-9;
  const worse = after.mrr < before.mrr - EPSILON || after.recall < before.recall - EPSILON;
  const keeping = previous ? 'the adapter in place stays' : 'searches stay as they were';
  if (result.bestEpoch === 0) {
    report.reason = `training found nothing better than the model as it is on the validation pairs (${describeFigures(result.before, k)}); ${keeping}.`;
  } else if (worse) {
    report.reason = `the new adapter makes the held-out figures worse (${describeFigures(before, k)} without it, ${describeFigures(after, k)} with it); ${keeping}.`;
  } else if (compareFigures(after, before) === 0) {
    report.reason = `the new adapter does not change the held-out figures (${describeFigures(before, k)}); ${keeping}.`;
  } else if (report.previous && compareFigures(after, report.previous.figures) < 0) {
    report.reason = `the adapter in place (revision ${report.previous.revision}) does better on the held-out pairs (${describeFigures(report.previous.figures, k)}, the new one ${describeFigures(after, k)}); it stays.`;
  }
  if (report.reason) return report;

  const revision = (previous?.info.revision ?? 0) + 1;
  const info: AdapterInfo = {
    format: ADAPTER_FORMAT,
    version: ADAPTER_FORMAT_VERSION,
    revision,
    createdAt: new Date().toISOString(),
    embedModel: kb.embedModel,
    dim,
    kind: result.map.kind,
    ...(result.map.kind === 'low-rank' ? { rank: result.map.rank } : {}),
    appliesTo: APPLIES_TO,
    training,
    heldOut,
  };
  report.path = await kb.queryAdapter.save(info, result.map);
  report.kept = true;
  report.revision = revision;
  return report;
}
