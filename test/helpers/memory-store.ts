import { createHash } from 'node:crypto';
import { MmragError } from '../../src/errors.js';
import { STOPWORDS } from '../../src/retrieve/gate.js';
import type { KbManifest } from '../../src/store/manifest.js';
import { MEDIA_MIME, type MediaStore } from '../../src/store/media-store.js';
import type { Store, StoreRow, TextMatch, VectorColumn, VectorSet } from '../../src/store/store.js';
import { textForm } from '../../src/text-form.js';
import type { Modality, SourceRecord, StoredItem } from '../../src/types.js';

/**
 * A complete second `Store`: everything in memory (items, vectors, a BM25 index over the items' text forms, the
 * manifest and an in-process write lock). It exists to show that the facade takes any store (it is plugged into
 * `KnowledgeBase.open({ store })` without a line of kb.ts knowing it), and it makes facade tests independent of
 * LanceDB. It has no ANN index: every vector search is exact.
 */
export class MemoryStore implements Store {
  private readonly sources = new Map<string, SourceRecord>();
  private readonly rows = new Map<string, StoreRow>();
  private manifest: KbManifest | undefined;
  private locked = false;
  private vectorDim: number | undefined;
  private textVectorDim: number | undefined;
  /** How many times each operation ran (tests check the facade went through the store). */
  readonly calls = new Map<string, number>();

  get dim(): number | undefined {
    return this.vectorDim;
  }

  get textDim(): number | undefined {
    return this.textVectorDim;
  }

  private count(name: string): void {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
  }

  private live(): StoreRow[] {
    const versions = new Set([...this.sources.values()].map((r) => r.version));
    return [...this.rows.values()].filter((r) => versions.has(r.version));
  }

  async listSources(): Promise<SourceRecord[]> {
    return [...this.sources.values()].sort((a, b) => a.source.localeCompare(b.source));
  }

  async getSource(source: string): Promise<SourceRecord | undefined> {
    return this.sources.get(source);
  }

  async commit(records: SourceRecord[], rows: StoreRow[]): Promise<void> {
    this.count('commit');
    for (const row of rows) {
      this.vectorDim ??= row.vector.length;
      this.textVectorDim ??= row.textVector.length;
      this.rows.set(row.id, row);
    }
    for (const record of records) {
      const previous = this.sources.get(record.source);
      this.sources.set(record.source, record);
      if (previous && previous.version !== record.version) this.dropVersion(previous.version);
    }
  }

  private dropVersion(version: string): void {
    for (const [id, row] of this.rows) if (row.version === version) this.rows.delete(id);
  }

  async deleteSources(sources: string[]): Promise<number> {
    let removed = 0;
    for (const source of sources) {
      const record = this.sources.get(source);
      if (!record) continue;
      this.sources.delete(source);
      this.dropVersion(record.version);
      removed += record.items;
    }
    return removed;
  }

  async vectors(modality: Modality, column: VectorColumn = 'vector'): Promise<VectorSet> {
    this.count('vectors');
    const rows = this.live().filter((r) => r.modality === modality);
    const dim = (column === 'vector' ? this.vectorDim : this.textVectorDim) ?? 0;
    const matrix = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => {
      matrix.set(column === 'vector' ? r.vector : r.textVector, i * dim);
    });
    return { ids: rows.map((r) => r.id), matrix, dim };
  }

  /** Okapi BM25 (k1 1.2, b 0.75) over the items' text forms, as LanceDB's full-text index scores them. */
  async fullTextSearch(query: string, modality: Modality, limit: number): Promise<TextMatch[]> {
    this.count('fullTextSearch');
    const words = tokens(query);
    if (words.length === 0) return [];
    const docs = this.live()
      .filter((r) => r.modality === modality)
      .map((r) => ({ id: r.id, terms: tokens(textForm(r)) }));
    const averageLength = docs.reduce((n, d) => n + d.terms.length, 0) / Math.max(1, docs.length);
    const scored: TextMatch[] = [];
    for (const doc of docs) {
      let score = 0;
      for (const word of new Set(words)) {
        const tf = doc.terms.filter((t) => t === word).length;
        if (tf === 0) continue;
        const df = docs.filter((d) => d.terms.includes(word)).length;
        const idf = Math.log(1 + (docs.length - df + 0.5) / (df + 0.5));
        score += (idf * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * doc.terms.length) / averageLength));
      }
      if (score > 0) scored.push({ id: doc.id, score });
    }
    return scored.sort((a, b) => b.score - a.score).slice(0, limit);
  }

  async scanItems(modality: Modality): Promise<StoredItem[]> {
    return this.live()
      .filter((r) => r.modality === modality)
      .map(toItem);
  }

  async getItems(ids: string[]): Promise<StoredItem[]> {
    const live = new Map(this.live().map((r) => [r.id, r]));
    return ids.flatMap((id) => {
      const row = live.get(id);
      return row ? [toItem(row)] : [];
    });
  }

  async itemsOfSource(source: string): Promise<StoredItem[]> {
    const record = this.sources.get(source);
    return record ? [...this.rows.values()].filter((r) => r.version === record.version).map(toItem) : [];
  }

  async optimize(): Promise<void> {}

  async refresh(): Promise<void> {}

  async removeOrphans(): Promise<number> {
    const before = this.rows.size;
    const live = new Set(this.live().map((r) => r.id));
    for (const id of [...this.rows.keys()]) if (!live.has(id)) this.rows.delete(id);
    return before - this.rows.size;
  }

  async readManifest(): Promise<KbManifest | undefined> {
    return this.manifest;
  }

  async writeManifest(manifest: KbManifest): Promise<void> {
    this.manifest = manifest;
  }

  private readonly texts = new Map<string, string>();

  async readText(name: string): Promise<string | undefined> {
    return this.texts.get(name);
  }

  async writeText(name: string, text: string): Promise<void> {
    this.texts.set(name, text);
  }

  async lockWrites(): Promise<() => void> {
    if (this.locked) throw new MmragError('Another writer holds the lock.', undefined, 'kb_locked');
    this.locked = true;
    return () => {
      this.locked = false;
    };
  }

  async close(): Promise<void> {}
}

/** Lower-cased words without stopwords, as LanceDB's full-text index (English defaults) tokenizes. */
function tokens(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !STOPWORDS.has(w));
}

function toItem(row: StoreRow): StoredItem {
  const { vector: _vector, textVector: _textVector, version: _version, ...item } = row;
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined)) as unknown as StoredItem;
}

/** Pictures kept in memory, named by their hash like the folder media store. */
export class MemoryMediaStore implements MediaStore {
  readonly files = new Map<string, Uint8Array>();

  async save(bytes: Uint8Array, mime: string): Promise<string> {
    const ext = Object.entries(MEDIA_MIME).find(([, m]) => m === mime)?.[0] ?? 'png';
    const rel = `${createHash('sha256').update(bytes).digest('hex')}.${ext}`;
    this.files.set(rel, bytes);
    return rel;
  }

  path(rel: string): string {
    return `memory:${rel}`;
  }

  async read(rel: string): Promise<Uint8Array> {
    const bytes = this.files.get(rel);
    if (!bytes) throw new Error(`no picture ${rel}`);
    return bytes;
  }

  async prune(referenced: Set<string>): Promise<number> {
    let removed = 0;
    for (const rel of [...this.files.keys()]) {
      if (!referenced.has(rel)) {
        this.files.delete(rel);
        removed++;
      }
    }
    return removed;
  }
}
