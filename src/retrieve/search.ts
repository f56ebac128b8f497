import type { Config } from '../config.js';
import type { Store } from '../store/store.js';
import type { Hit, Modality, StoredItem } from '../types.js';
import { dotAll } from './dot.js';
import { cosineSearch, type Scored, softmaxSearch, vectorNorm } from './similarity.js';

export type Scoring = Config['search']['scoring'];

/** Retrieval parameters per modality, resolved for one query. */
export interface ModalityParams {
  k: number;
  threshold: number;
  /** Softmax temperature (ignored by cosine scoring). */
  temperature: number;
}

export interface SearchParams {
  scoring: Scoring;
  text: ModalityParams;
  image: ModalityParams;
}

/** The effective parameters: thresholds come from the scoring in use unless set explicitly. */
export function searchParams(config: Config['search']): SearchParams {
  const threshold = (modality: 'text' | 'image') =>
    config.scoring === 'softmax' ? config[modality].threshold : config.cosine[modality].threshold;
  return {
    scoring: config.scoring,
    text: { k: config.text.k, threshold: threshold('text'), temperature: config.text.temperature },
    image: { k: config.image.k, threshold: threshold('image'), temperature: config.image.temperature },
  };
}

/** Score every live item of one modality against the query vector; the best k that pass the threshold. */
export async function scoreModality(
  store: Store,
  modality: Modality,
  query: Float32Array,
  params: ModalityParams,
  scoring: Scoring,
): Promise<Array<Scored & { id: string; similarity: number }>> {
  const set = await store.vectors(modality);
  if (set.ids.length === 0 || params.k <= 0) return [];
  if (query.length !== set.dim) {
    throw new Error(`query vector has width ${query.length}, the knowledge base ${set.dim}`);
  }
  const similarities = dotAll(set.matrix, set.dim, query);
  const scored =
    scoring === 'softmax'
      ? softmaxSearch(similarities, params)
      : cosineSearch(similarities, vectorNorm(query), params);
  return scored.map((s) => ({ ...s, id: set.ids[s.index]!, similarity: similarities[s.index]! }));
}

export function toHit(
  item: StoredItem,
  score: number,
  similarity: number,
  mediaPath: (rel: string) => string,
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
  }
  return hit;
}

/** Both modalities searched separately, each with its own k, threshold and temperature. */
export async function searchStore(
  store: Store,
  query: Float32Array,
  params: SearchParams,
  mediaPath: (rel: string) => string,
): Promise<{ text: Hit[]; images: Hit[] }> {
  const [textScored, imageScored] = await Promise.all([
    scoreModality(store, 'text', query, params.text, params.scoring),
    scoreModality(store, 'image', query, params.image, params.scoring),
  ]);
  const items = await store.getItems([...textScored, ...imageScored].map((s) => s.id));
  const byId = new Map(items.map((i) => [i.id, i]));
  const hits = (scored: typeof textScored) =>
    scored.flatMap((s) => {
      const item = byId.get(s.id);
      return item ? [toHit(item, s.score, s.similarity, mediaPath)] : [];
    });
  return { text: hits(textScored), images: hits(imageScored) };
}
