import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Arrow from 'apache-arrow';
import { MmragError } from '../errors.js';
import type { Location, Modality, SourceRecord, SourceType, StoredItem } from '../types.js';
import type { Store, StoreRow, TextMatch, VectorColumn, VectorSet } from './store.js';

// LanceDB must see the same apache-arrow copy it was built against; an ESM import can load a second one.
const arrow = createRequire(import.meta.url)('apache-arrow') as typeof Arrow;

type LanceDb = typeof import('@lancedb/lancedb');
type Connection = Awaited<ReturnType<LanceDb['connect']>>;
type Table = Awaited<ReturnType<Connection['openTable']>>;

const ITEMS = 'items';

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

function writeFileAtomic(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * The default store: LanceDB tables on disk plus a small registry of live sources (`sources.json`), whose atomic
 * rename is the commit point of every write.
 */
export class LanceStore implements Store {
  private table: Table | undefined;
  private registry: Map<string, SourceRecord>;

  private constructor(
    private readonly dir: string,
    private readonly db: Connection,
    table: Table | undefined,
    private vectorDim: number | undefined,
    private textVectorDim: number | undefined,
  ) {
    this.table = table;
    this.registry = this.readRegistry();
  }

  static async open(dir: string): Promise<LanceStore> {
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
      table = await db.openTable(ITEMS);
      const schema = await table.schema();
      const width = (name: string) =>
        (schema.fields.find((f) => f.name === name)?.type as Arrow.FixedSizeList | undefined)?.listSize;
      dim = width('vector');
      textDim = width('text_vector');
    }
    return new LanceStore(dir, db, table, dim, textDim);
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

  private readRegistry(): Map<string, SourceRecord> {
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
  }

  /** Re-read the registry (another process may have written since this one opened). */
  refresh(): void {
    this.registry = this.readRegistry();
  }

  private liveVersions(): Set<string> {
    return new Set([...this.registry.values()].map((r) => r.version));
  }

  async listSources(): Promise<SourceRecord[]> {
    return [...this.registry.values()].sort((a, b) => a.source.localeCompare(b.source));
  }

  async getSource(source: string): Promise<SourceRecord | undefined> {
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
        media: r.media ?? null,
        description: r.description ?? null,
        location: r.location ? JSON.stringify(r.location) : null,
        ingested_at: r.ingestedAt,
        vector: Array.from(r.vector),
        text_vector: Array.from(r.textVector),
      }));
      if (!this.table) {
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
    return orphans;
  }

  async deleteSources(sources: string[]): Promise<number> {
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

  async vectors(modality: Modality, column: VectorColumn = 'vector'): Promise<VectorSet> {
    const dim = (column === 'vector' ? this.vectorDim : this.textVectorDim) ?? 0;
    if (!this.table || dim === 0) return { ids: [], matrix: new Float32Array(0), dim };
    const live = this.liveVersions();
    const result = await this.table
      .query()
      .where(`modality = ${sqlString(modality)}`)
      .select(['id', 'version', column])
      .toArrow();
    const ids: string[] = [];
    const matrix = new Float32Array(result.numRows * dim);
    let row = 0;
    for (const batch of result.batches) {
      const idColumn = batch.getChild('id')!;
      const versionColumn = batch.getChild('version')!;
      const vectorData = batch.getChild(column)!.data[0]!;
      const values = vectorData.children[0]!;
      const floats = (values.values as Float32Array).subarray(values.offset);
      for (let i = 0; i < batch.numRows; i++) {
        if (!live.has(versionColumn.get(i) as string)) continue;
        ids.push(idColumn.get(i) as string);
        const start = (vectorData.offset + i) * dim;
        matrix.set(floats.subarray(start, start + dim), row * dim);
        row++;
      }
    }
    return { ids, matrix: matrix.subarray(0, row * dim), dim };
  }

  private async selectItems(predicate: string): Promise<StoredItem[]> {
    if (!this.table) return [];
    const live = this.liveVersions();
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
    if (!this.table || !words) return [];
    const live = this.liveVersions();
    let rows: Array<{ id: string; version: string; _score: number }>;
    try {
      rows = (await this.table
        .search(words, 'fts')
        .where(`modality = ${sqlString(modality)}`)
        .select(['id', 'version', '_score'])
        .limit(limit * 2 + 10)
        .toArray()) as typeof rows;
    } catch (err) {
      // No full-text index yet (a knowledge base written before indexes existed): index now, once.
      if (retried || !/index/i.test((err as Error).message)) throw err;
      await this.optimize();
      return this.fullTextSearch(query, modality, limit, true);
    }
    return rows
      .filter((r) => live.has(r.version))
      .slice(0, limit)
      .map((r) => ({ id: r.id, score: r._score }));
  }

  async scanItems(modality: Modality): Promise<StoredItem[]> {
    return this.selectItems(`modality = ${sqlString(modality)}`);
  }

  /** The full-text index over `text` (new rows are searched before they are indexed), refreshed after writes. */
  async optimize(): Promise<void> {
    if (!this.table) return;
    const lancedb = await import('@lancedb/lancedb');
    const indices = await this.table.listIndices();
    if (!indices.some((i) => i.columns.includes('text') && i.indexType === 'FTS')) {
      await this.table.createIndex('text', { config: lancedb.Index.fts({ withPosition: false }) });
    }
    await this.table.optimize({ cleanupOlderThan: new Date(Date.now() - 60_000) });
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
    const record = this.registry.get(source);
    if (!record) return [];
    const items = await this.selectItems(`version = ${sqlString(record.version)}`);
    return items;
  }

  async close(): Promise<void> {
    this.table?.close();
    this.db.close();
  }
}
