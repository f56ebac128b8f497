import type { Config } from '../config.js';
import type { Store, VectorColumn, VectorSet } from '../store/store.js';
import { textForm } from '../text-form.js';
import type { Hit, Level, Modality, StoredItem } from '../types.js';
import { dot, dotAll } from '../vector/dot.js';
import {
  cosineSearch,
  type Scored,
  softmaxNormaliser,
  softmaxSearch,
  vectorNorm,
} from '../vector/similarity.js';

import { reciprocalRankFusion } from './fusion.js';
import { maximalMarginalRelevance } from './mmr.js';
import { type Evidence, relevanceOf } from './relevance.js';
import type { Reranker } from './rerank.js';

export type Scoring = Config['search']['scoring'];
export type { Level };
export type SearchMode = 'hybrid' | 'vector' | 'bm25';

/** Retrieval parameters per modality, resolved for one query. */
export interface ModalityParams {
  k: number;
  threshold: number;
  /** Softmax temperature (ignored by cosine scoring). */
  temperature: number;
  /**
   * The threshold was set for this query (not the configured default): it then holds in every mode, for hits
   * that only BM25 found too (their vector score is computed and they are dropped under it).
   */
  thresholdSet?: boolean;
}

/** Everything that decides how one query is answered. */
export interface SearchPlan {
  level: Level;
  mode: SearchMode;
  scoring: Scoring;
  text: ModalityParams;
  image: ModalityParams;
  fusion: Config['search']['fusion'];
  /** Candidates each ranking contributes before fusion, reranking and diversity. */
  candidates: number;
  /** MMR lambda; undefined: off. */
  diversity?: number;
  /** Only items this accepts are searched. */
  where?: (item: StoredItem) => boolean;
  reranker?: Reranker;
  /** A dedicated text embedder exists (its ranking of text items joins the fusion at level 3). */
  dedicatedTextSpace: boolean;
}

/** The query in every form the rankings need. */
export interface QueryForms {
  /** The words, for BM25 and reranking. */
  text?: string;
  /** The raw CLIP query vector (text projection, picture, or their mean). */
  clip?: Float32Array;
  /** The query through the text embedder. */
  textForm?: Float32Array;
}

/** The effective thresholds: from the scoring in use unless set explicitly. */
export function defaultModalityParams(
  config: Config['search'],
  scoring: Scoring,
): Pick<SearchPlan, 'text' | 'image'> {
  const threshold = (modality: 'text' | 'image') =>
    scoring === 'softmax' ? config[modality].threshold : config.cosine[modality].threshold;
  return {
    text: { k: config.text.k, threshold: threshold('text'), temperature: config.text.temperature },
    image: { k: config.image.k, threshold: threshold('image'), temperature: config.image.temperature },
  };
}

interface Ranked {
  id: string;
  score: number;
}

interface ModalityResult {
  hits: Array<{
    id: string;
    score: number;
    scores: NonNullable<Hit['scores']>;
    /** The ranking that placed this hit highest: the evidence its readable score shows. */
    evidence?: Evidence;
  }>;
  /** Raw dot product of the primary vector ranking, by id. */
  similarity: Map<string, number>;
}

/** How a vector ranking was computed: a scan of every vector, or the ANN index. */
export type VectorSearchMethod = 'exact' | 'ann';

/** One vector ranking, best first, with the raw dot product and the vector of the items it saw. */
export interface VectorRanking {
  ranked: Ranked[];
  method: VectorSearchMethod;
  dot(id: string): number | undefined;
  vector(id: string): Float32Array | undefined;
  /** The score thresholds apply to (cosine, or softmax probability over all rows) for a raw dot product. */
  scoreOfDot(dot: number): number;
}

export type VectorSearchListener = (use: {
  modality: Modality;
  column: VectorColumn;
  method: VectorSearchMethod;
}) => void;
let vectorSearchListener: VectorSearchListener | undefined;

/** For benchmarks and tests only (never part of a result): be told how each vector ranking was computed. */
export function setVectorSearchListener(listener: VectorSearchListener | undefined): void {
  vectorSearchListener = listener;
}

/** Row index of each id of a vector set, built once per set (a store hands out the same set while it is live). */
const rowIndexes = new WeakMap<VectorSet, Map<string, number>>();
function rowIndex(set: VectorSet): Map<string, number> {
  let index = rowIndexes.get(set);
  if (!index) {
    index = new Map(set.ids.map((id, i) => [id, i]));
    rowIndexes.set(set, index);
  }
  return index;
}

/** Exact: every allowed row scored, thresholded by the plan's scoring, best first. */
function exactRanking(
  set: VectorSet,
  query: Float32Array,
  params: ModalityParams,
  scoring: Scoring,
  limit: number,
  allowed: Set<string> | undefined,
): VectorRanking {
  const dots =
    set.resident && set.resident.rows === set.ids.length
      ? set.resident.dotAll(query)
      : dotAll(set.matrix, set.dim, query);
  let rows: number[] | undefined;
  if (allowed) {
    rows = [];
    for (let i = 0; i < set.ids.length; i++) if (allowed.has(set.ids[i]!)) rows.push(i);
  }
  const sims = rows ? Float32Array.from(rows, (i) => dots[i]!) : dots;
  const p = { ...params, k: limit };
  const scored: Scored[] =
    scoring === 'softmax' ? softmaxSearch(sims, p) : cosineSearch(sims, vectorNorm(query), p);
  const rowOf = () => rowIndex(set);
  return {
    ranked: scored.map((s) => ({ id: set.ids[rows ? rows[s.index]! : s.index]!, score: s.score })),
    method: 'exact',
    scoreOfDot: scoring === 'softmax' ? softmaxOfDot(sims, params.temperature) : cosineOfDot(query),
    dot: (id) => {
      const row = rowOf().get(id);
      return row === undefined ? undefined : dots[row];
    },
    vector: (id) => {
      const row = rowOf().get(id);
      return row === undefined ? undefined : set.matrix.subarray(row * set.dim, (row + 1) * set.dim);
    },
  };
}

/**
 * One vector ranking of a modality's live items. Cosine scoring uses the store's ANN index when it has one for
 * this modality (above the index threshold); softmax scoring is always exact, because its denominator sums over
 * every item. A filter too selective for the index, or an index that returns too few hits, falls back to exact.
 * Undefined when the modality has no vectors.
 */
export async function rankVectors(
  store: Store,
  modality: Modality,
  column: VectorColumn,
  query: Float32Array,
  params: ModalityParams,
  scoring: Scoring,
  limit: number,
  allowed: Set<string> | undefined,
): Promise<VectorRanking | undefined> {
  if (scoring === 'cosine' && store.nearest) {
    const hits = await store.nearest({ modality, column, query, limit, allowed });
    if (hits) {
      vectorSearchListener?.({ modality, column, method: 'ann' });
      const norm = vectorNorm(query);
      const inverse = norm > 0 ? 1 / norm : 0;
      const minimum = Math.fround(params.threshold);
      const at = new Map(hits.ids.map((id, i) => [id, i]));
      return {
        ranked: hits.ids
          .map((id, i) => ({ id, score: hits.dots[i]! * inverse }))
          .filter((r) => Math.fround(r.score) >= minimum),
        method: 'ann',
        scoreOfDot: cosineOfDot(query),
        dot: (id) => {
          const i = at.get(id);
          return i === undefined ? undefined : hits.dots[i];
        },
        vector: (id) => {
          const i = at.get(id);
          return i === undefined ? undefined : hits.vectors.subarray(i * hits.dim, (i + 1) * hits.dim);
        },
      };
    }
  }
  const set = await store.vectors(modality, column);
  if (set.ids.length === 0) return undefined;
  vectorSearchListener?.({ modality, column, method: 'exact' });
  return exactRanking(set, query, params, scoring, limit, allowed);
}

async function searchModality(
  store: Store,
  modality: Modality,
  query: QueryForms,
  plan: SearchPlan,
): Promise<ModalityResult> {
  const params = modality === 'text' ? plan.text : plan.image;
  const result: ModalityResult = { hits: [], similarity: new Map() };
  if (params.k <= 0) return result;
  const allowed = plan.where
    ? new Set((await store.scanItems(modality)).filter(plan.where).map((i) => i.id))
    : undefined;
  // Pictures are over-fetched so that, once copies of one stored picture are merged (searchStore), k remain.
  const keep = modality === 'image' ? params.k * 2 : params.k;
  const limit =
    plan.mode === 'vector' && !plan.reranker && !plan.diversity ? keep : Math.max(plan.candidates, keep);

  const lists: Array<{ ids: string[]; weight: number }> = [];
  const perRanker: { vector: Map<string, number>; bm25: Map<string, number> } = {
    vector: new Map(),
    bm25: new Map(),
  };

  // The primary vector ranking: CLIP space at level 3, text forms at levels 1 and 2.
  const column: VectorColumn = plan.level === 3 ? 'vector' : 'text_vector';
  const primaryQuery = plan.level === 3 ? query.clip : query.textForm;
  let primary: VectorRanking | undefined;
  if (primaryQuery) {
    primary = await rankVectors(store, modality, column, primaryQuery, params, plan.scoring, limit, allowed);
    if (primary) {
      for (const r of primary.ranked) perRanker.vector.set(r.id, r.score);
      if (plan.mode !== 'bm25')
        lists.push({ ids: primary.ranked.map((r) => r.id), weight: plan.fusion.vector });
    }
  }
  // A dedicated text model ranks text items too (CLIP's text tower truncates and is weak on prose).
  if (
    plan.level === 3 &&
    modality === 'text' &&
    plan.dedicatedTextSpace &&
    query.textForm &&
    plan.mode === 'hybrid'
  ) {
    const ranking = await rankVectors(
      store,
      'text',
      'text_vector',
      query.textForm,
      params,
      'cosine',
      limit,
      allowed,
    );
    if (ranking) lists.push({ ids: ranking.ranked.map((r) => r.id), weight: plan.fusion.text });
  }
  if (plan.mode !== 'vector' && query.text) {
    const matches = await store.fullTextSearch(query.text, modality, allowed ? limit * 4 : limit);
    const kept = (allowed ? matches.filter((m) => allowed.has(m.id)) : matches).slice(0, limit);
    for (const m of kept) perRanker.bm25.set(m.id, m.score);
    lists.push({ ids: kept.map((m) => m.id), weight: plan.fusion.bm25 });
  }

  let ordered: Ranked[];
  if (plan.mode === 'vector') {
    ordered = lists[0]?.ids.map((id) => ({ id, score: perRanker.vector.get(id)! })) ?? [];
  } else if (plan.mode === 'bm25') {
    ordered = [...perRanker.bm25].map(([id, score]) => ({ id, score }));
  } else {
    ordered = reciprocalRankFusion(lists, plan.fusion.k);
  }
  const scoresOf = (id: string): NonNullable<Hit['scores']> => {
    const s: NonNullable<Hit['scores']> = {};
    if (perRanker.vector.has(id)) s.vector = perRanker.vector.get(id)!;
    if (perRanker.bm25.has(id)) s.bm25 = perRanker.bm25.get(id)!;
    return s;
  };
  const rankIn = {
    vector: new Map([...perRanker.vector.keys()].map((id, i) => [id, i])),
    bm25: new Map([...perRanker.bm25.keys()].map((id, i) => [id, i])),
  };
  const evidenceOf = (id: string): Evidence =>
    (rankIn.bm25.get(id) ?? Number.POSITIVE_INFINITY) < (rankIn.vector.get(id) ?? Number.POSITIVE_INFINITY)
      ? 'bm25'
      : 'vector';

  if (plan.reranker && query.text && ordered.length > 0) {
    const pool = ordered.slice(0, Math.max(plan.candidates, keep));
    const items = await store.getItems(pool.map((r) => r.id));
    const byId = new Map(items.map((i) => [i.id, i]));
    const documents = pool.map((r) => {
      const item = byId.get(r.id);
      return item ? textForm(item) : '';
    });
    const rerankScores = await plan.reranker.score(query.text, documents);
    const reranked = pool
      .map((r, i) => ({ id: r.id, score: rerankScores[i]!, prior: i }))
      .sort((a, b) => b.score - a.score || a.prior - b.prior);
    result.hits = reranked.map((r) => ({
      id: r.id,
      score: r.score,
      scores: { ...scoresOf(r.id), rerank: r.score },
      evidence: evidenceOf(r.id),
    }));
  } else {
    result.hits = ordered.map((r) => ({
      id: r.id,
      score: r.score,
      scores: scoresOf(r.id),
      evidence: evidenceOf(r.id),
    }));
  }

  // Every hit gets its vector score: a BM25 hit the vector ranking did not return has it computed here (its
  // vector fetched when the ANN index answered). A threshold set for this query then holds in every mode.
  const vectorOf = new Map<string, Float32Array>();
  const withVectors = async (ids: string[]) => {
    if (!primary || !primaryQuery) return;
    const missing: string[] = [];
    for (const id of ids) {
      const v = primary.vector(id);
      if (v) vectorOf.set(id, v);
      else if (!vectorOf.has(id)) missing.push(id);
    }
    if (primary.method === 'ann' && missing.length > 0 && store.vectorsOf) {
      for (const [id, v] of await store.vectorsOf(missing, column)) vectorOf.set(id, v);
    }
  };
  const dotOfHit = (id: string) => primary?.dot(id) ?? dotOf(vectorOf.get(id), primaryQuery!);
  if (primary && primaryQuery) {
    const considered = result.hits.slice(0, Math.max(plan.candidates, keep));
    await withVectors(considered.filter((h) => h.scores.vector === undefined).map((h) => h.id));
    for (const hit of considered) {
      if (hit.scores.vector !== undefined) continue;
      const dot = dotOfHit(hit.id);
      if (dot !== undefined) hit.scores.vector = primary.scoreOfDot(dot);
    }
    if (params.thresholdSet && plan.mode !== 'vector') {
      const minimum = Math.fround(params.threshold);
      result.hits = considered.filter(
        (h) => h.scores.vector !== undefined && Math.fround(h.scores.vector) >= minimum,
      );
    }
  }
  if (plan.diversity !== undefined && result.hits.length > params.k && primary) {
    await withVectors(result.hits.map((h) => h.id));
    const candidates = result.hits.filter((h) => vectorOf.has(h.id));
    // Relevance on the scale of the similarities MMR trades it against: the score relative to the best one.
    const best = Math.max(...candidates.map((h) => Math.abs(h.score)), Number.MIN_VALUE);
    const picked = maximalMarginalRelevance(
      candidates.map((h) => ({
        relevance: h.score / best,
        vector: vectorOf.get(h.id)!,
      })),
      params.k,
      plan.diversity,
    );
    result.hits = picked.map((i) => candidates[i]!);
  }
  result.hits = result.hits.slice(0, keep);
  if (primary && primaryQuery) {
    await withVectors(result.hits.map((h) => h.id));
    for (const h of result.hits) {
      const dot = dotOfHit(h.id);
      if (dot !== undefined) result.similarity.set(h.id, dot);
    }
  }
  return result;
}

export function toHit(
  item: StoredItem,
  score: number,
  similarity: number,
  mediaPath: (rel: string) => string,
  scores?: Hit['scores'],
): Hit {
  const hit: Hit = {
    id: item.id,
    modality: item.modality,
    score,
    similarity,
    title: item.title,
    section: item.section,
    source: item.source,
    type: item.type,
  };
  if (item.location) hit.location = item.location;
  if (item.modality === 'text') hit.text = item.text;
  else {
    hit.caption = item.text;
    if (item.media) hit.image = mediaPath(item.media);
    if (item.description) hit.description = item.description;
  }
  if (scores && Object.keys(scores).length > 0) hit.scores = scores;
  return hit;
}

/** Both modalities searched separately, each with its own k, threshold and temperature. */
export async function searchStore(
  store: Store,
  query: QueryForms,
  plan: SearchPlan,
  mediaPath: (rel: string) => string,
): Promise<{ text: Hit[]; images: Hit[] }> {
  const [text, images] = await Promise.all([
    searchModality(store, 'text', query, plan),
    searchModality(store, 'image', query, plan),
  ]);
  const items = await store.getItems([...text.hits, ...images.hits].map((h) => h.id));
  const byId = new Map(items.map((i) => [i.id, i]));
  const reported = plan.mode === 'vector' && !plan.reranker;
  const hits = (r: ModalityResult, k: number) => {
    const seenPictures = new Set<string>();
    const onePerPage = pageOrItsPictures();
    const out: Hit[] = [];
    for (const h of r.hits) {
      const item = byId.get(h.id);
      if (!item) continue;
      // One stored picture once per list (a page's picture also ingested on its own, the same photo twice).
      if (item.media) {
        if (seenPictures.has(item.media)) continue;
        seenPictures.add(item.media);
      }
      if (!onePerPage(item)) continue;
      const hit = toHit(
        item,
        h.score,
        r.similarity.get(h.id) ?? 0,
        mediaPath,
        reported ? undefined : h.scores,
      );
      hit.relevance = relevanceOf(h, plan);
      out.push(hit);
      if (out.length === k) break;
    }
    return out;
  };
  return { text: hits(text, plan.text.k), images: hits(images, plan.image.k) };
}

/**
 * A page rendered whole and the pictures cut from that page are not both kept in one list: whichever ranks first
 * stands for the page. A page first keeps its pictures out (they are on it, and the model is sent the page); a
 * picture first keeps its page out (the figure itself is the better picture; its page is one click away in the
 * viewer), while other pictures of that page still count. Returns whether to keep each item, in rank order.
 */
export function pageOrItsPictures(): (
  item: Pick<StoredItem, 'modality' | 'type' | 'source' | 'location'>,
) => boolean {
  const pages = new Set<string>();
  const pictures = new Set<string>();
  return (item) => {
    const at = item.location?.page ?? item.location?.slide;
    if (item.modality !== 'image' || at === undefined) return true;
    const key = `${item.location?.page !== undefined ? 'page' : 'slide'} ${at} of ${item.source}`;
    if (item.type === 'page') {
      if (pictures.has(key)) return false;
      pages.add(key);
      return true;
    }
    if (pages.has(key)) return false;
    pictures.add(key);
    return true;
  };
}

function dotOf(vector: Float32Array | undefined, query: Float32Array): number | undefined {
  return vector ? Math.fround(dot(vector, query)) : undefined;
}

/** Cosine of a raw dot product with this query (items are unit vectors). */
function cosineOfDot(query: Float32Array): (dot: number) => number {
  const norm = vectorNorm(query);
  return (d) => (norm > 0 ? d / norm : 0);
}

/** The reference softmax probability of a raw dot product, over the same rows the ranking scored. */
function softmaxOfDot(similarities: Float32Array, temperature: number): (dot: number) => number {
  let normaliser: { max: number; sum: number } | undefined;
  return (d) => {
    normaliser ??= softmaxNormaliser(similarities, temperature);
    return Math.exp(d / temperature - normaliser.max) / normaliser.sum;
  };
}

/** The strongest evidence a knowledge base holds for a query, per modality: what the answerability gate weighs. */
export interface QueryEvidence {
  text: { vector?: number; bm25?: number };
  image: { vector?: number; bm25?: number };
}

/**
 * The best vector score (cosine, whatever the plan's scoring: it means the same at any corpus size) and the best
 * BM25 score of each modality for a query, under the plan's level and filter. One exact or ANN top-1 and one
 * full-text top-1 per modality: cheap enough to run for a set of probe queries too.
 */
export async function bestEvidence(
  store: Store,
  query: QueryForms,
  plan: SearchPlan,
): Promise<QueryEvidence> {
  const column: VectorColumn = plan.level === 3 ? 'vector' : 'text_vector';
  const primaryQuery = plan.level === 3 ? query.clip : query.textForm;
  const one = async (modality: Modality) => {
    const found: { vector?: number; bm25?: number } = {};
    const allowed = plan.where
      ? new Set((await store.scanItems(modality)).filter(plan.where).map((i) => i.id))
      : undefined;
    if (primaryQuery) {
      const params = { k: 1, threshold: -1, temperature: 1 };
      const ranking = await rankVectors(store, modality, column, primaryQuery, params, 'cosine', 1, allowed);
      const top = ranking?.ranked[0];
      if (top) found.vector = top.score;
    }
    if (query.text) {
      const matches = await store.fullTextSearch(query.text, modality, allowed ? 20 : 1);
      const top = allowed ? matches.find((m) => allowed.has(m.id)) : matches[0];
      if (top) found.bm25 = top.score;
    }
    return found;
  };
  const [text, image] = await Promise.all([one('text'), one('image')]);
  return { text, image };
}
