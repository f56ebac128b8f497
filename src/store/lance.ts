import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Arrow from 'apache-arrow';
import { MmragError } from '../errors.js';
import { textForm } from '../text-form.js';
import type { Location, Modality, SourceRecord, SourceType, StoredItem } from '../types.js';
import { dot } from '../vector/dot.js';
import { VectorMatrix } from '../vector/matrix.js';
import { writeFileAtomic } from './atomic.js';
import { acquireWriteLock } from './lock.js';
import { type KbManifest, parseManifest } from './manifest.js';
import {
  type AnnSettings,
  DEFAULT_ANN_SETTINGS,
  type NearestHits,
  type NearestRequest,
  type Store,
  type StoreRow,
  type TextMatch,
  type VectorColumn,
  type VectorSet,
} from './store.js';

// LanceDB must see the same apache-arrow copy it was built against; an ESM import can load a second one.
const arrow = createRequire(import.meta.url)('apache-arrow') as typeof Arrow;

type LanceDb = typeof import('@lancedb/lancedb');
type Connection = Awaited<ReturnType<LanceDb['connect']>>;
type Table = Awaited<ReturnType<Connection['openTable']>>;

const ITEMS = 'items';
/** The index's metric: cosine (= dot on unit vectors). LanceDB's HNSW_SQ with `dot` returns garbage distances. */
const ANN_DISTANCE = 'cosine';
/** One HNSW graph per this many rows (IVF partitions): bounds the memory of training a graph. */
const ROWS_PER_PARTITION = 1_000_000;
/** An index is rebuilt from scratch (fresh partitions and graph) once the table has doubled since it was built. */
const REBUILD_GROWTH = 2;
/** Beyond this many candidates an index walk is no faster than an exact scan: search exactly instead. */
const MAX_FETCH = 5000;

export interface LanceStoreOptions {
  /** The ANN index settings (`search.ann`); defaults: DEFAULT_ANN_SETTINGS. */
  ann?: Partial<AnnSettings>;
}

/** What the ANN index of each column was built over (`ann.json`), to decide when to rebuild it. */
export type AnnMeta = Partial<Record<VectorColumn, { rows: number; builtAt: string }>>;

interface CachedVectors {
  generation: number;
  set: VectorSet;
}

function itemSchema(dim: number, textDim: number): Arrow.Schema {
  const { Schema, Field, Utf8, Float64, FixedSizeList, Float32 } = arrow;
  return new Schema([
    new Field('id', new Utf8(), false),
    new Field('source', new Utf8(), false),
    new Field('version', new Utf8(), false),
    new Field('modality', new Utf8(), false),
    new Field('type', new Utf8(), false),
    new Field('title', new Utf8(), false),
    new Field('section', new Utf8(), false),
    new Field('text', new Utf8(), false),
    // What BM25 indexes: section, text and description (src/text-form.ts).
    new Field('search_text', new Utf8(), false),
    new Field('media', new Utf8(), true),
    new Field('description', new Utf8(), true),
    new Field('location', new Utf8(), true),
    new Field('ingested_at', new Float64(), false),
    new Field('vector', new FixedSizeList(dim, new Field('item', new Float32(), true)), false),
    new Field('text_vector', new FixedSizeList(textDim, new Field('item', new Float32(), true)), false),
  ]);
}

/** SQL string literal for LanceDB filters. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function sqlList(values: string[]): string {
  return `(${values.map(sqlString).join(', ')})`;
}

interface RawRow {
  id: string;
  source: string;
  version: string;
  modality: string;
  type: string;
  title: string;
  section: string;
  text: string;
  media: string | null;
  description: string | null;
  location: string | null;
  ingested_at: number;
}

function toStoredItem(row: RawRow): StoredItem {
  const item: StoredItem = {
    id: row.id,
    modality: row.modality as Modality,
    type: row.type as SourceType,
    source: row.source,
    title: row.title,
    section: row.section,
    text: row.text,
    ingestedAt: row.ingested_at,
  };
  if (row.media) item.media = row.media;
  if (row.description) item.description = row.description;
  if (row.location) item.location = JSON.parse(row.location) as Location;
  return item;
}

const META_COLUMNS = [
  'id',
  'source',
  'version',
  'modality',
  'type',
  'title',
  'section',
  'text',
  'media',
  'description',
  'location',
  'ingested_at',
];

/**
 * The default store: LanceDB tables on disk plus a small registry of live sources (`sources.json`), whose atomic
 * rename is the commit point of every write.
 */
export class LanceStore implements Store {
  private table: Table | undefined;
  private registry: Map<string, SourceRecord>;
  /** Identity of the registry file last read or written (inode, mtime, size): a change means another writer. */
  private registryStamp = '';
  /** Bumped whenever the live versions may have changed: cached vectors of an older generation are stale. */
  private generation = 0;
  private readonly vectorCache = new Map<string, CachedVectors>();
  /** Columns with a vector index (undefined: not looked up since the last change). */
  private indexedColumns: Set<string> | undefined;
  readonly ann: AnnSettings;

  private constructor(
    private readonly dir: string,
    private readonly db: Connection,
    table: Table | undefined,
    private vectorDim: number | undefined,
    private textVectorDim: number | undefined,
    options: LanceStoreOptions,
  ) {
    this.table = table;
    this.ann = { ...DEFAULT_ANN_SETTINGS, ...definedOnly(options.ann ?? {}) };
    this.registry = this.readRegistry();
  }

  static async open(dir: string, options: LanceStoreOptions = {}): Promise<LanceStore> {
    mkdirSync(dir, { recursive: true });
    // LanceDB's Rust side logs warnings to stderr (e.g. on creating a table); they are not the user's concern.
    process.env.LANCEDB_LOG ??= 'error';
    const lancedb = await import('@lancedb/lancedb');
    const db = await lancedb.connect(join(dir, 'lance'));
    const names = await db.tableNames();
    let table: Table | undefined;
    let dim: number | undefined;
    let textDim: number | undefined;
    if (names.includes(ITEMS)) {
      try {
        table = await db.openTable(ITEMS);
      } catch (err) {
        // A crash inside the very first table creation leaves a folder with no committed version: nothing was
        // committed, so the knowledge base is empty, and the next write starts the table afresh.
        if (existsSync(join(dir, 'lance', `${ITEMS}.lance`, '_versions'))) throw err;
      }
    }
    if (table) {
      const schema = await table.schema();
      const width = (name: string) =>
        (schema.fields.find((f) => f.name === name)?.type as Arrow.FixedSizeList | undefined)?.listSize;
      dim = width('vector');
      textDim = width('text_vector');
    }
    return new LanceStore(dir, db, table, dim, textDim, options);
  }

  get dim(): number | undefined {
    return this.vectorDim;
  }

  get textDim(): number | undefined {
    return this.textVectorDim;
  }

  private get registryPath(): string {
    return join(this.dir, 'sources.json');
  }

  private stampOfRegistry(): string {
    try {
      const info = statSync(this.registryPath);
      return `${info.ino}:${info.mtimeMs}:${info.size}`;
    } catch {
      return '';
    }
  }

  private readRegistry(): Map<string, SourceRecord> {
    this.registryStamp = this.stampOfRegistry();
    this.generation++;
    if (!existsSync(this.registryPath)) return new Map();
    try {
      const records = JSON.parse(readFileSync(this.registryPath, 'utf8')) as SourceRecord[];
      return new Map(records.map((r) => [r.source, r]));
    } catch (err) {
      throw new MmragError(
        `The knowledge base's source registry ${this.registryPath} is unreadable: ${(err as Error).message}`,
        'Restore it from a backup, or re-ingest into a new --kb folder.',
        'kb_corrupt',
      );
    }
  }

  private writeRegistry(): void {
    const records = [...this.registry.values()].sort((a, b) => a.source.localeCompare(b.source));
    writeFileAtomic(this.registryPath, `${JSON.stringify(records, null, 1)}\n`);
    this.registryStamp = this.stampOfRegistry();
    this.generation++;
  }

  /**
   * The live versions, after picking up writes by other processes (a long-lived server sees a CLI ingest): when
   * the registry file changed, it is re-read and the table moved to its latest version.
   */
  private async current(): Promise<Set<string>> {
    if (this.stampOfRegistry() !== this.registryStamp) {
      this.registry = this.readRegistry();
      this.indexedColumns = undefined;
      if (this.table) await this.table.checkoutLatest();
      else if ((await this.db.tableNames()).includes(ITEMS)) {
        this.table = await this.db.openTable(ITEMS);
        const schema = await this.table.schema();
        const width = (name: string) =>
          (schema.fields.find((f) => f.name === name)?.type as Arrow.FixedSizeList | undefined)?.listSize;
        this.vectorDim = width('vector');
        this.textVectorDim = width('text_vector');
      }
    }
    return this.liveVersions();
  }

  /** Live items of one modality (all modalities when undefined), from the registry. */
  liveCount(modality?: Modality): number {
    let n = 0;
    for (const r of this.registry.values()) {
      n += modality === undefined ? r.items : modality === 'text' ? r.textItems : r.imageItems;
    }
    return n;
  }

  /** Pick up what other processes wrote since this one looked (the registry and the table's latest version). */
  async refresh(): Promise<void> {
    this.registryStamp = '';
    await this.current();
  }

  private liveVersions(): Set<string> {
    return new Set([...this.registry.values()].map((r) => r.version));
  }

  async listSources(): Promise<SourceRecord[]> {
    await this.current();
    return [...this.registry.values()].sort((a, b) => a.source.localeCompare(b.source));
  }

  async getSource(source: string): Promise<SourceRecord | undefined> {
    await this.current();
    return this.registry.get(source);
  }

  async commit(records: SourceRecord[], rows: StoreRow[]): Promise<void> {
    if (rows.length > 0) {
      const dim = rows[0]!.vector.length;
      const textDim = rows[0]!.textVector.length;
      if (
        (this.vectorDim !== undefined && dim !== this.vectorDim) ||
        (this.textVectorDim !== undefined && textDim !== this.textVectorDim)
      ) {
        throw new MmragError(
          `Vectors of width ${dim}/${textDim} cannot join a knowledge base of width ${this.vectorDim}/${this.textVectorDim}.`,
          'Use the embedding models this knowledge base was built with, or a new --kb folder.',
          'dim_mismatch',
        );
      }
      const data = rows.map((r) => ({
        id: r.id,
        source: r.source,
        version: r.version,
        modality: r.modality,
        type: r.type,
        title: r.title,
        section: r.section,
        text: r.text,
        search_text: textForm(r),
        media: r.media ?? null,
        description: r.description ?? null,
        location: r.location ? JSON.stringify(r.location) : null,
        ingested_at: r.ingestedAt,
        vector: Array.from(r.vector),
        text_vector: Array.from(r.textVector),
      }));
      if (!this.table) {
        const half = join(this.dir, 'lance', `${ITEMS}.lance`);
        if (existsSync(half) && !existsSync(join(half, '_versions')))
          rmSync(half, { recursive: true, force: true });
        this.table = await this.db.createTable(ITEMS, data, {
          schema: itemSchema(dim, textDim),
          mode: 'create',
        });
        this.vectorDim = dim;
        this.textVectorDim = textDim;
      } else {
        await this.table.add(data);
      }
    }
    // Commit point: the registry now names the new versions.
    const superseded: string[] = [];
    for (const record of records) {
      const previous = this.registry.get(record.source);
      if (previous && previous.version !== record.version) superseded.push(previous.version);
      this.registry.set(record.source, record);
    }
    this.writeRegistry();
    if (superseded.length > 0 && this.table) await this.table.delete(`version IN ${sqlList(superseded)}`);
  }

  /** Drop rows that no live version references (left by a crash between append and commit). */
  async removeOrphans(): Promise<number> {
    if (!this.table) return 0;
    const live = [...this.liveVersions()];
    const predicate = live.length > 0 ? `version NOT IN ${sqlList(live)}` : 'true';
    const orphans = await this.table.countRows(predicate);
    if (orphans > 0) await this.table.delete(predicate);
    // A crash between a commit and the index build leaves no full-text index: rebuild it under the lock.
    await this.ensureFullTextIndex();
    return orphans;
  }

  private ftsBuild: Promise<void> | undefined;

  /** The full-text index over `text`, created when missing (new rows are searched before they are indexed). */
  async ensureFullTextIndex(): Promise<void> {
    if (!this.table) return;
    const indices = await this.table.listIndices();
    if (indices.some((i) => i.columns.includes('search_text') && i.indexType === 'FTS')) return;
    const lancedb = await import('@lancedb/lancedb');
    await this.table.createIndex('search_text', { config: lancedb.Index.fts({ withPosition: false }) });
  }

  async deleteSources(sources: string[]): Promise<number> {
    // Rewriting the registry from a stale copy would drop what another process committed meanwhile.
    await this.current();
    const versions: string[] = [];
    let items = 0;
    for (const source of sources) {
      const record = this.registry.get(source);
      if (!record) continue;
      versions.push(record.version);
      items += record.items;
      this.registry.delete(source);
    }
    if (versions.length === 0) return 0;
    this.writeRegistry();
    if (this.table) await this.table.delete(`version IN ${sqlList(versions)}`);
    return items;
  }

  /**
   * Every live vector of a modality. Loaded once and kept, resident in WebAssembly memory, until the live versions
   * change (a write here or by another process): a long-lived process does not reload them for every query.
   */
  async vectors(modality: Modality, column: VectorColumn = 'vector'): Promise<VectorSet> {
    const live = await this.current();
    const dim = (column === 'vector' ? this.vectorDim : this.textVectorDim) ?? 0;
    if (!this.table || dim === 0) return { ids: [], matrix: new Float32Array(0), dim };
    const key = `${modality}/${column}`;
    const cached = this.vectorCache.get(key);
    if (cached && cached.generation === this.generation) return cached.set;
    this.vectorCache.delete(key);
    const generation = this.generation;
    const result = await this.table
      .query()
      .where(`modality = ${sqlString(modality)}`)
      .select(['id', 'version', column])
      .toArrow();
    const ids: string[] = [];
    let resident: VectorMatrix | undefined;
    try {
      resident = new VectorMatrix(dim, { initialCapacity: Math.max(1, result.numRows) });
    } catch {
      // Over the 4 GB of one WebAssembly memory: a plain array, scanned block by block.
    }
    const plain = resident ? undefined : new Float32Array(result.numRows * dim);
    let row = 0;
    const put = (rows: Float32Array) => {
      if (resident) resident.append(rows);
      else plain!.set(rows, row * dim);
      row += rows.length / dim;
    };
    for (const batch of result.batches) {
      const idColumn = batch.getChild('id')!;
      const versionColumn = batch.getChild('version')!;
      const vectorData = batch.getChild(column)!.data[0]!;
      const values = vectorData.children[0]!;
      const floats = (values.values as Float32Array).subarray(values.offset);
      // Runs of consecutive live rows are copied in one go.
      let runStart = -1;
      const flushRun = (end: number) => {
        if (runStart < 0) return;
        put(floats.subarray((vectorData.offset + runStart) * dim, (vectorData.offset + end) * dim));
        runStart = -1;
      };
      for (let i = 0; i < batch.numRows; i++) {
        if (!live.has(versionColumn.get(i) as string)) {
          flushRun(i);
          continue;
        }
        ids.push(idColumn.get(i) as string);
        if (runStart < 0) runStart = i;
      }
      flushRun(batch.numRows);
    }
    const set: VectorSet = resident
      ? { ids, matrix: resident.view(), dim, resident }
      : { ids, matrix: plain!.subarray(0, row * dim), dim };
    if (generation === this.generation) this.vectorCache.set(key, { generation, set });
    return set;
  }

  async vectorsOf(ids: string[], column: VectorColumn): Promise<Map<string, Float32Array>> {
    const live = await this.current();
    const dim = (column === 'vector' ? this.vectorDim : this.textVectorDim) ?? 0;
    const found = new Map<string, Float32Array>();
    if (!this.table || dim === 0 || ids.length === 0) return found;
    for (let i = 0; i < ids.length; i += 500) {
      const result = await this.table
        .query()
        .where(`id IN ${sqlList(ids.slice(i, i + 500))}`)
        .select(['id', 'version', column])
        .toArrow();
      for (const batch of result.batches) {
        const idColumn = batch.getChild('id')!;
        const versionColumn = batch.getChild('version')!;
        const vectorData = batch.getChild(column)!.data[0]!;
        const values = vectorData.children[0]!;
        const floats = (values.values as Float32Array).subarray(values.offset);
        for (let r = 0; r < batch.numRows; r++) {
          if (!live.has(versionColumn.get(r) as string)) continue;
          const start = (vectorData.offset + r) * dim;
          found.set(idColumn.get(r) as string, floats.slice(start, start + dim));
        }
      }
    }
    return found;
  }

  /** Whether `column` has a vector index (looked up once per change of the table). */
  private async hasVectorIndex(column: VectorColumn): Promise<boolean> {
    if (!this.table) return false;
    if (!this.indexedColumns) {
      const indices = await this.table.listIndices();
      this.indexedColumns = new Set(
        indices.filter((i) => /hnsw|ivf/i.test(i.indexType)).flatMap((i) => i.columns),
      );
    }
    return this.indexedColumns.has(column);
  }

  async nearest(request: NearestRequest): Promise<NearestHits | undefined> {
    const settings = this.ann;
    if (!settings.enabled || !settings.columns.includes(request.column)) return undefined;
    const live = await this.current();
    const dim = (request.column === 'vector' ? this.vectorDim : this.textVectorDim) ?? 0;
    const modalityRows = this.liveCount(request.modality);
    if (!this.table || dim === 0 || modalityRows < settings.threshold) return undefined;
    if (!(await this.hasVectorIndex(request.column))) return undefined;
    const allowedRows = Math.min(request.allowed?.size ?? modalityRows, modalityRows);
    const want = Math.min(request.limit, allowedRows);
    if (want <= 0) return { ids: [], dots: new Float32Array(0), vectors: new Float32Array(0), dim };
    // The index walk sees every row of the table; a filter that leaves few of them is searched exactly.
    const tableRows = Math.max(1, this.liveCount());
    if (allowedRows / tableRows < settings.exactBelowFraction) return undefined;
    // The modality and any filter are applied to the candidates here (a LanceDB pre-filter by modality costs
    // more than it saves), so fetch in proportion to the rows they leave.
    // A filter leaves the nearest allowed items deeper in the graph's order: fetch twice as many and walk it wider
    // (measured: recall of filtered queries 0.96-0.98 without this, 0.99-1.0 with it).
    const filtered = request.allowed !== undefined;
    const fetch = Math.ceil(want * settings.refine * (filtered ? 2 : 1) * (tableRows / allowedRows)) + 10;
    if (fetch > MAX_FETCH) return undefined;
    const result = await this.table
      .vectorSearch(request.query)
      .column(request.column)
      .distanceType(ANN_DISTANCE)
      .ef(Math.max(settings.ef, filtered ? 3 * fetch : fetch))
      .limit(fetch)
      .select(['id', 'version', 'modality', request.column])
      .toArrow();
    const found: Array<{ id: string; dot: number; vector: Float32Array }> = [];
    const query = request.query;
    for (const batch of result.batches) {
      const idColumn = batch.getChild('id')!;
      const versionColumn = batch.getChild('version')!;
      const modalityColumn = batch.getChild('modality')!;
      const vectorData = batch.getChild(request.column)!.data[0]!;
      const values = vectorData.children[0]!;
      const floats = (values.values as Float32Array).subarray(values.offset);
      for (let i = 0; i < batch.numRows; i++) {
        const id = idColumn.get(i) as string;
        if (modalityColumn.get(i) !== request.modality) continue;
        if (!live.has(versionColumn.get(i) as string)) continue;
        if (request.allowed && !request.allowed.has(id)) continue;
        const start = (vectorData.offset + i) * dim;
        const vector = floats.subarray(start, start + dim);
        found.push({ id, dot: Math.fround(dot(vector, query)), vector });
      }
    }
    // Too few: the filter or superseded rows ate the candidates; the exact path is never short.
    if (found.length < want) return undefined;
    found.sort((a, b) => b.dot - a.dot || (a.id < b.id ? -1 : 1));
    const kept = found.slice(0, want);
    const vectors = new Float32Array(kept.length * dim);
    kept.forEach((f, i) => {
      vectors.set(f.vector, i * dim);
    });
    return { ids: kept.map((f) => f.id), dots: Float32Array.from(kept, (f) => f.dot), vectors, dim };
  }

  private async selectItems(predicate: string): Promise<StoredItem[]> {
    const live = await this.current();
    if (!this.table) return [];
    const rows = (await this.table.query().where(predicate).select(META_COLUMNS).toArray()) as RawRow[];
    return rows.filter((r) => live.has(r.version)).map(toStoredItem);
  }

  async fullTextSearch(
    query: string,
    modality: Modality,
    limit: number,
    retried = false,
  ): Promise<TextMatch[]> {
    // Words only: the full-text parser would read quotes, parentheses and operators as query syntax.
    const words = query.replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
    const live = await this.current();
    if (!this.table || !words) return [];
    type Row = { id: string; version: string; modality: string; _score: number };
    const table = this.table;
    const wanted = limit * 2 + 10;
    const search = async (prefilter: boolean, fetch: number) => {
      let q = table.search(words, 'fts');
      if (prefilter) q = q.where(`modality = ${sqlString(modality)}`);
      return (await q.select(['id', 'version', 'modality', '_score']).limit(fetch).toArray()) as Row[];
    };
    let rows: Row[];
    try {
      // A LanceDB pre-filter by modality costs more than fetching a few more matches and dropping the other
      // modality's; the pre-filter is kept for a small modality, and as the fallback when too few are left.
      const share = this.liveCount(modality) / Math.max(1, this.liveCount());
      rows = [];
      if (share >= 0.2) {
        const fetch = Math.ceil((wanted * 1.5) / share) + 10;
        const all = await search(false, fetch);
        const kept = all.filter((r) => r.modality === modality);
        // Complete when every match came back, or when enough of this modality's did (the rest score lower).
        if (kept.length >= wanted || all.length < fetch) rows = kept;
        else rows = await search(true, wanted);
      } else rows = await search(true, wanted);
    } catch (err) {
      // No full-text index yet (a knowledge base written before indexes existed): index now, once.
      if (retried || !/index/i.test((err as Error).message)) throw err;
      // One build per store, shared by concurrent searches; a build that lost the race to another is fine.
      this.ftsBuild ??= this.ensureFullTextIndex()
        .catch((e: unknown) => {
          if (!/conflict|preempted|already exists/i.test(String(e))) throw e;
        })
        .finally(() => {
          this.ftsBuild = undefined;
        });
      await this.ftsBuild;
      return this.fullTextSearch(query, modality, limit, true);
    }
    return rows
      .filter((r) => live.has(r.version))
      .slice(0, limit)
      .map((r) => ({ id: r.id, score: r._score }));
  }

  private itemsCache = new Map<Modality, { generation: number; items: StoredItem[] }>();

  /** Every live item of a modality, kept until the live versions change (filtered searches read it per query). */
  async scanItems(modality: Modality): Promise<StoredItem[]> {
    await this.current();
    const cached = this.itemsCache.get(modality);
    if (cached && cached.generation === this.generation) return cached.items;
    const generation = this.generation;
    const items = await this.selectItems(`modality = ${sqlString(modality)}`);
    if (generation === this.generation) this.itemsCache.set(modality, { generation, items });
    return items;
  }

  /**
   * After writes: the full-text index over `text`, compaction, and the ANN indexes. LanceDB's optimize adds new rows
   * to existing indexes (rows not yet indexed are still searched, by a flat scan beside the index); an ANN index is
   * created once a modality reaches the threshold and rebuilt when the table has doubled since it was built.
   */
  async optimize(): Promise<void> {
    if (!this.table) return;
    await this.ensureFullTextIndex();
    await this.table.optimize({ cleanupOlderThan: new Date(Date.now() - 60_000) });
    await this.ensureAnnIndexes();
  }

  private get annMetaPath(): string {
    return join(this.dir, 'ann.json');
  }

  private readAnnMeta(): AnnMeta {
    try {
      return JSON.parse(readFileSync(this.annMetaPath, 'utf8')) as AnnMeta;
    } catch {
      return {};
    }
  }

  /** What each column's ANN index was built over (for diagnostics and tests). */
  annIndexInfo(): AnnMeta {
    return this.readAnnMeta();
  }

  /** The columns that have a vector index. */
  async vectorIndexes(): Promise<string[]> {
    if (!this.table) return [];
    const indices = await this.table.listIndices();
    return indices.filter((i) => /hnsw|ivf/i.test(i.indexType)).flatMap((i) => i.columns);
  }

  /** Create (or rebuild) the ANN index of each configured column once a modality has `threshold` live items. */
  async ensureAnnIndexes(): Promise<void> {
    const settings = this.ann;
    if (!this.table || !settings.enabled) return;
    await this.current();
    if (Math.max(this.liveCount('text'), this.liveCount('image')) < settings.threshold) return;
    const lancedb = await import('@lancedb/lancedb');
    const rows = await this.table.countRows();
    const indices = await this.table.listIndices();
    const meta = this.readAnnMeta();
    let changed = false;
    if (!indices.some((i) => i.columns.includes('id'))) {
      // Hits are fetched by id after every search: without an index that is a scan of the whole table.
      await this.table.createIndex('id', { config: lancedb.Index.btree() });
    }
    for (const column of settings.columns) {
      const existing = indices.find((i) => i.columns.includes(column) && /hnsw|ivf/i.test(i.indexType));
      const builtOver = meta[column]?.rows ?? existing?.numIndexedRows ?? 0;
      if (existing && rows < builtOver * REBUILD_GROWTH) {
        if (!meta[column]) {
          meta[column] = { rows: builtOver, builtAt: new Date().toISOString() };
          changed = true;
        }
        continue;
      }
      await this.table.createIndex(column, {
        config: lancedb.Index.hnswSq({
          distanceType: ANN_DISTANCE,
          numPartitions: Math.max(1, Math.ceil(rows / ROWS_PER_PARTITION)),
        }),
        replace: true,
      });
      meta[column] = { rows, builtAt: new Date().toISOString() };
      changed = true;
    }
    this.indexedColumns = undefined;
    if (changed) writeFileAtomic(this.annMetaPath, `${JSON.stringify(meta, null, 1)}\n`);
  }

  async getItems(ids: string[]): Promise<StoredItem[]> {
    if (ids.length === 0) return [];
    const found = new Map<string, StoredItem>();
    for (let i = 0; i < ids.length; i += 500) {
      for (const item of await this.selectItems(`id IN ${sqlList(ids.slice(i, i + 500))}`))
        found.set(item.id, item);
    }
    return ids.flatMap((id) => found.get(id) ?? []);
  }

  async itemsOfSource(source: string): Promise<StoredItem[]> {
    await this.current();
    const record = this.registry.get(source);
    if (!record) return [];
    const items = await this.selectItems(`version = ${sqlString(record.version)}`);
    return items;
  }

  async readManifest(): Promise<KbManifest | undefined> {
    const path = join(this.dir, 'kb.json');
    if (!existsSync(path)) return undefined;
    return parseManifest(readFileSync(path, 'utf8'), path);
  }

  async writeManifest(manifest: KbManifest): Promise<void> {
    writeFileAtomic(join(this.dir, 'kb.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }

  async readText(name: string): Promise<string | undefined> {
    const path = join(this.dir, plainName(name));
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  }

  async writeText(name: string, text: string): Promise<void> {
    writeFileAtomic(join(this.dir, plainName(name)), text);
  }

  async lockWrites(): Promise<() => void> {
    return acquireWriteLock(join(this.dir, 'write.lock'));
  }

  async close(): Promise<void> {
    this.vectorCache.clear();
    this.itemsCache.clear();
    this.table?.close();
    this.db.close();
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A document name as a file inside the knowledge base folder: a plain name, never a path. */
function plainName(name: string): string {
  if (!/^[\w.-]+$/.test(name) || name.startsWith('.')) {
    throw new MmragError(`"${name}" is not a plain document name.`, undefined, 'bad_request');
  }
  return name;
}
