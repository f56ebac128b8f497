/** A knowledge base of synthetic items written through the Store directly (no model): for search benchmarks. */
import type { Store, StoreRow } from '../src/store/store.js';
import type { Modality, SourceRecord, SourceType } from '../src/types.js';

const WORDS = (
  'harbour tide boat lantern market museum river bridge castle forest mountain valley garden station ' +
  'library theatre village church tower mill farm orchard vineyard lake island cliff beach lighthouse ' +
  'festival winter summer autumn spring morning evening night storm rain snow wind sun moon star'
).split(' ');

export interface SyntheticOptions {
  /** Rows to write. */
  n: number;
  dim: number;
  /** Row i's vector (a unit vector of width dim). */
  vectorOf: (first: number, count: number) => Float32Array;
  /** Modality of row i (default: every row an image). */
  modalityOf?: (i: number) => Modality;
  /** Rows per source (one registry entry per source). */
  rowsPerSource?: number;
  /** Rows per commit. */
  batch?: number;
  onProgress?: (written: number) => void;
}

/** A few seeded words per row, so BM25 has something to rank. */
export function syntheticText(i: number): string {
  const pick = (salt: number) => WORDS[(Math.imul(i + 1, 2654435761 + salt) >>> 0) % WORDS.length]!;
  return `${pick(1)} ${pick(2)} ${pick(3)} ${pick(4)} ${pick(5)} near the ${pick(6)} ${pick(7)}`;
}

/** Writes `n` rows (ids `r0`..`r{n-1}`) in large commits; returns the seconds taken. */
export async function writeSyntheticRows(store: Store, options: SyntheticOptions): Promise<number> {
  const started = performance.now();
  const perSource = options.rowsPerSource ?? 1000;
  const batch = options.batch ?? 10_000;
  const modalityOf = options.modalityOf ?? (() => 'image' as const);
  for (let first = 0; first < options.n; first += batch) {
    const count = Math.min(batch, options.n - first);
    const vectors = options.vectorOf(first, count);
    const rows: StoreRow[] = [];
    const records = new Map<string, SourceRecord>();
    for (let k = 0; k < count; k++) {
      const i = first + k;
      const s = Math.floor(i / perSource);
      const source = `/synthetic/source-${s}.txt`;
      const type: SourceType = (['pdf', 'docx', 'html', 'image', 'text'] as const)[s % 5]!;
      const modality = modalityOf(i);
      let record = records.get(source);
      if (!record) {
        record = {
          source,
          type,
          hash: `hash-${s}`,
          version: `v${s}`,
          items: 0,
          textItems: 0,
          imageItems: 0,
          bytes: 1,
          ingestedAt: 0,
        };
        records.set(source, record);
      }
      record.items++;
      if (modality === 'text') record.textItems++;
      else record.imageItems++;
      const vector = vectors.subarray(k * options.dim, (k + 1) * options.dim);
      rows.push({
        id: `r${i}`,
        version: record.version,
        modality,
        type,
        source,
        title: `Source ${s}`,
        section: '',
        text: syntheticText(i),
        ingestedAt: 0,
        vector,
        textVector: vector,
      });
    }
    // A source may straddle two batches: its record must count every row written so far.
    for (const record of records.values()) {
      const previous = await store.getSource(record.source);
      if (previous && previous.version === record.version) {
        record.items += previous.items;
        record.textItems += previous.textItems;
        record.imageItems += previous.imageItems;
      }
    }
    await store.commit([...records.values()], rows);
    options.onProgress?.(first + count);
  }
  return (performance.now() - started) / 1000;
}
