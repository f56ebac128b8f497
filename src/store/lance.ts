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
import type { Store, StoreRow, VectorSet } from './store.js';

// LanceDB must see the same apache-arrow copy it was built against; an ESM import can load a second one.
const arrow = createRequire(import.meta.url)('apache-arrow') as typeof Arrow;

type LanceDb = typeof import('@lancedb/lancedb');
type Connection = Awaited<ReturnType<LanceDb['connect']>>;
type Table = Awaited<ReturnType<Connection['openTable']>>;

const ITEMS = 'items';

function itemSchema(dim: number): Arrow.Schema {
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
    new Field('location', new Utf8(), true),
    new Field('ingested_at', new Float64(), false),
    new Field('vector', new FixedSizeList(dim, new Field('item', new Float32(), true)), false),
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
  ) {
    this.table = table;
    this.registry = this.readRegistry();
  }

  static async open(dir: string): Promise<LanceStore> {
    mkdirSync(dir, { recursive: true });
    const lancedb = await import('@lancedb/lancedb');
    const db = await lancedb.connect(join(dir, 'lance'));
    const names = await db.tableNames();
    let table: Table | undefined;
    let dim: number | undefined;
    if (names.includes(ITEMS)) {
      table = await db.openTable(ITEMS);
      const schema = await table.schema();
      const vectorType = schema.fields.find((f) => f.name === 'vector')?.type as
        | Arrow.FixedSizeList
        | undefined;
      dim = vectorType?.listSize;
    }
    return new LanceStore(dir, db, table, dim);
  }

  get dim(): number | undefined {
    return this.vectorDim;
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
      if (this.vectorDim !== undefined && dim !== this.vectorDim) {
        throw new MmragError(
          `Vectors of width ${dim} cannot join a knowledge base of width ${this.vectorDim}.`,
          'Use the embedding model this knowledge base was built with, or a new --kb folder.',
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
        location: r.location ? JSON.stringify(r.location) : null,
        ingested_at: r.ingestedAt,
        vector: Array.from(r.vector),
      }));
      if (!this.table) {
        this.table = await this.db.createTable(ITEMS, data, { schema: itemSchema(dim), mode: 'create' });
        this.vectorDim = dim;
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

  async vectors(modality: Modality): Promise<VectorSet> {
    const dim = this.vectorDim ?? 0;
    if (!this.table || dim === 0) return { ids: [], matrix: new Float32Array(0), dim };
    const live = this.liveVersions();
    const result = await this.table
      .query()
      .where(`modality = ${sqlString(modality)}`)
      .select(['id', 'version', 'vector'])
      .toArrow();
    const ids: string[] = [];
    const matrix = new Float32Array(result.numRows * dim);
    let row = 0;
    for (const batch of result.batches) {
      const idColumn = batch.getChild('id')!;
      const versionColumn = batch.getChild('version')!;
      const vectorData = batch.getChild('vector')!.data[0]!;
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
