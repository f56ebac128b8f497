import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ModalityParams,
  rankVectors,
  type SearchPlan,
  searchStore,
  setVectorSearchListener,
  type VectorSearchMethod,
} from '../../src/retrieve/search.js';
import { LanceStore } from '../../src/store/lance.js';
import type { StoreRow } from '../../src/store/store.js';
import type { Modality, SourceRecord, SourceType } from '../../src/types.js';
import { tempDir } from '../helpers/fixtures.js';

const DIM = 32;
const THRESHOLD = 600;
const COSINE: ModalityParams = { k: 10, threshold: -1, temperature: 0.5 };

/** Seeded clustered unit vectors (real embeddings cluster; uniform random ones make every index look bad). */
function generator(seed: number) {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const unit = (v: Float32Array) => {
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
  const centres = Array.from({ length: 20 }, () => unit(Float32Array.from({ length: DIM }, gaussian)));
  return {
    random,
    next(): Float32Array {
      const centre = centres[Math.floor(random() * centres.length)]!;
      return unit(Float32Array.from(centre, (c) => c + (gaussian() * 0.5) / Math.sqrt(DIM)));
    },
  };
}

const gen = generator(7);
let sourceCounter = 0;

/** A source of `count` items of one modality (with given vectors, or fresh clustered ones). */
function source(
  modality: Modality,
  count: number,
  options: { type?: SourceType; vectors?: Float32Array[]; name?: string; words?: string[] } = {},
): { record: SourceRecord; rows: StoreRow[] } {
  const n = sourceCounter++;
  const name = options.name ?? `/data/source-${n}.txt`;
  const version = `v${n}`;
  const type = options.type ?? 'text';
  const rows: StoreRow[] = Array.from({ length: count }, (_, i) => {
    const vector = options.vectors?.[i] ?? gen.next();
    return {
      id: `${version}-${i}`,
      version,
      modality,
      type,
      source: name,
      title: name,
      section: '',
      text: options.words?.[i] ?? `item ${i} of source ${n}`,
      ingestedAt: 0,
      vector,
      textVector: vector,
    };
  });
  const textItems = modality === 'text' ? count : 0;
  return {
    record: {
      source: name,
      type,
      hash: `h${n}`,
      version,
      items: count,
      textItems,
      imageItems: count - textItems,
      bytes: 1,
      ingestedAt: 0,
    },
    rows,
  };
}

async function commit(store: LanceStore, sources: Array<{ record: SourceRecord; rows: StoreRow[] }>) {
  await store.commit(
    sources.map((s) => s.record),
    sources.flatMap((s) => s.rows),
  );
}

/** The true top k by brute force over every live row the filter allows. */
async function trueTop(
  store: LanceStore,
  modality: Modality,
  query: Float32Array,
  k: number,
  allowed?: Set<string>,
): Promise<string[]> {
  const set = await store.vectors(modality, 'vector');
  const scored = set.ids
    .map((id, r) => {
      let dot = 0;
      for (let j = 0; j < DIM; j++) dot += set.matrix[r * DIM + j]! * query[j]!;
      return { id, dot };
    })
    .filter((s) => !allowed || allowed.has(s.id));
  scored.sort((a, b) => b.dot - a.dot);
  return scored.slice(0, k).map((s) => s.id);
}

const methods: VectorSearchMethod[] = [];
async function ranked(
  store: LanceStore,
  modality: Modality,
  query: Float32Array,
  options: { allowed?: Set<string>; scoring?: 'cosine' | 'softmax'; k?: number } = {},
) {
  methods.length = 0;
  const ranking = await rankVectors(
    store,
    modality,
    'vector',
    query,
    { ...COSINE, threshold: options.scoring === 'softmax' ? 0 : -1 },
    options.scoring ?? 'cosine',
    options.k ?? 10,
    options.allowed,
  );
  return { ids: ranking?.ranked.map((r) => r.id) ?? [], method: methods.at(-1), ranking };
}

let tmp: ReturnType<typeof tempDir>;
let store: LanceStore;
const queries: Float32Array[] = [];

beforeAll(async () => {
  setVectorSearchListener((use) => methods.push(use.method));
  tmp = tempDir('mmrag-ann-');
  store = await LanceStore.open(tmp.dir, { ann: { threshold: THRESHOLD, columns: ['vector'] } });
  for (let i = 0; i < 20; i++) queries.push(gen.next());
});

afterAll(async () => {
  setVectorSearchListener(undefined);
  await store.close();
  tmp.cleanup();
});

describe('ANN index', () => {
  it('is not built below the threshold: searches are exact', async () => {
    await commit(store, [source('image', 250), source('image', 250), source('text', 350)]);
    await store.optimize();
    const indices = await listVectorIndexes(store);
    expect(indices).toEqual([]);
    const { method, ids } = await ranked(store, 'image', queries[0]!);
    expect(method).toBe('exact');
    expect(ids).toEqual(await trueTop(store, 'image', queries[0]!, 10));
  });

  it('is built automatically at the end of the ingest that passes the threshold', async () => {
    await commit(store, [source('image', 200), source('text', 300)]);
    await store.optimize();
    expect(await listVectorIndexes(store)).toEqual(['vector']);
    expect((await ranked(store, 'image', queries[0]!)).method).toBe('ann');
    expect((await ranked(store, 'text', queries[0]!)).method).toBe('ann');
  });

  it('returns the same result set as exact search on small data, with exact scores', async () => {
    for (const modality of ['image', 'text'] as const) {
      for (const q of queries) {
        const { ids, method, ranking } = await ranked(store, modality, q);
        expect(method).toBe('ann');
        expect(new Set(ids)).toEqual(new Set(await trueTop(store, modality, q, 10)));
        const exact = await ranked(store, modality, q, { scoring: 'softmax' });
        expect(exact.method).toBe('exact');
        for (const id of ids) expect(ranking!.dot(id)).toBeCloseTo(exact.ranking!.dot(id)!, 5);
      }
    }
  });

  it('keeps softmax scoring exact above the threshold (its denominator needs every item)', async () => {
    expect((await ranked(store, 'image', queries[1]!, { scoring: 'softmax' })).method).toBe('exact');
  });

  it('finds items added after the index was built, before and after the next optimize', async () => {
    const target = queries[2]!;
    const added = source('image', 3, { vectors: [target, gen.next(), gen.next()] });
    await commit(store, [added]);
    const before = await ranked(store, 'image', target);
    expect(before.method).toBe('ann');
    expect(before.ids[0]).toBe(added.rows[0]!.id);
    await store.optimize();
    const after = await ranked(store, 'image', target);
    expect(after.method).toBe('ann');
    expect(after.ids[0]).toBe(added.rows[0]!.id);
  });

  it('never returns superseded versions or orphaned rows', async () => {
    const target = queries[3]!;
    const name = '/data/changing.png';
    const first = source('image', 2, { name, vectors: [target, gen.next()] });
    await commit(store, [first]);
    expect((await ranked(store, 'image', target)).ids[0]).toBe(first.rows[0]!.id);
    // The file changes: its new version replaces the old one.
    const second = source('image', 2, { name, vectors: [gen.next(), gen.next()] });
    await commit(store, [second]);
    // Rows appended by a write that crashed before its commit point (no registry entry): never live.
    const orphan = source('image', 1, { vectors: [target] });
    await store.commit([], orphan.rows);
    for (const when of ['before optimize', 'after optimize']) {
      if (when === 'after optimize') await store.optimize();
      const { ids, method } = await ranked(store, 'image', target, { k: 30 });
      expect(method, when).toBe('ann');
      expect(ids, when).toHaveLength(30);
      expect(ids, when).not.toContain(first.rows[0]!.id);
      expect(ids, when).not.toContain(orphan.rows[0]!.id);
      expect(ids, when).toEqual(await trueTop(store, 'image', target, 30));
    }
  });

  it('returns the true filtered top 10 for filters of every selectivity', async () => {
    const all = await store.vectors('image', 'vector');
    for (const fraction of [0.5, 0.1, 0.02, 0.005]) {
      const allowed = new Set(all.ids.filter((_, i) => (i * 7919) % 1000 < fraction * 1000));
      for (const q of queries.slice(0, 8)) {
        const { ids, method } = await ranked(store, 'image', q, { allowed });
        expect(method, `fraction ${fraction}`).toBe(fraction >= 0.1 ? 'ann' : 'exact');
        expect(new Set(ids), `fraction ${fraction}`).toEqual(
          new Set(await trueTop(store, 'image', q, 10, allowed)),
        );
      }
    }
  });

  it('gives hybrid hits their exact similarity, also for items only BM25 found', async () => {
    const words = Array.from({ length: 5 }, (_, i) => `zeppelin hangar number ${i}`);
    const named = source('text', 5, { words });
    await commit(store, [named]);
    await store.optimize();
    const plan: SearchPlan = {
      level: 3,
      mode: 'hybrid',
      scoring: 'cosine',
      text: { k: 10, threshold: -1, temperature: 0.25 },
      image: { k: 0, threshold: -1, temperature: 0.5 },
      fusion: { vector: 1, bm25: 1, text: 1, k: 60 },
      candidates: 20,
      dedicatedTextSpace: false,
    };
    const query = queries[4]!;
    methods.length = 0;
    const { text } = await searchStore(store, { text: 'zeppelin hangar', clip: query }, plan, (r) => r);
    expect(methods).toContain('ann');
    const zeppelins = text.filter((h) => h.text?.startsWith('zeppelin'));
    expect(zeppelins.length).toBeGreaterThan(0);
    for (const hit of zeppelins) {
      const row = named.rows.find((r) => r.id === hit.id)!;
      let dot = 0;
      for (let j = 0; j < DIM; j++) dot += row.vector[j]! * query[j]!;
      expect(hit.similarity).toBeCloseTo(dot, 5);
    }
  });

  it('rebuilds the index once the table has doubled', async () => {
    const before = (await store.annIndexInfo()).vector!.rows;
    const rows = await liveRows(store);
    await commit(store, [source('image', rows + 10)]);
    await store.optimize();
    const after = (await store.annIndexInfo()).vector!.rows;
    expect(before).toBeLessThan(after);
    expect(after).toBeGreaterThanOrEqual(2 * before);
  });
});

describe('vector cache', () => {
  it('keeps loaded vectors until the live versions change, also by another process', async () => {
    const a = await store.vectors('image', 'vector');
    expect(await store.vectors('image', 'vector')).toBe(a);
    expect(a.resident?.rows).toBe(a.ids.length);
    const other = await LanceStore.open(tmp.dir, { ann: { threshold: THRESHOLD, columns: ['vector'] } });
    const added = source('image', 1);
    await commit(other, [added]);
    await other.close();
    const b = await store.vectors('image', 'vector');
    expect(b).not.toBe(a);
    expect(b.ids).toContain(added.rows[0]!.id);
    expect(b.ids.length).toBe(a.ids.length + 1);
  });
});

async function listVectorIndexes(s: LanceStore): Promise<string[]> {
  return (await s.vectorIndexes()).sort();
}

async function liveRows(s: LanceStore): Promise<number> {
  return s.liveCount();
}
