import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, MmragError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { Modality } from '../types.js';
import { adaptQuery, type LinearMap } from '../vector/linear-map.js';

/**
 * The query adapter `mmrag tune` trains (src/tune/) and searches apply: its file format, reading it (checked
 * against the knowledge base's model) and applying it to text queries. It lives in the knowledge base folder,
 * beside kb.json.
 */
export const ADAPTER_FILE = 'adapter.json';
export const ADAPTER_FORMAT = 'mmrag-query-adapter';
/** Bumped when the file layout changes; a newer file is refused with a message. */
export const ADAPTER_FORMAT_VERSION = 1;

/** Recall@k and MRR of held-out queries. */
export interface RankingFigures {
  /** Held-out pairs measured. */
  pairs: number;
  /** Share of pairs whose target is in the first k. */
  recall: number;
  /** Mean reciprocal rank of the target. */
  mrr: number;
}

/** How an adapter was trained (`mmrag tune` writes them; see src/tune/train.ts). */
export interface TrainSettings {
  /** Passes over the training pairs at most (early stopping may end sooner). */
  epochs: number;
  batchSize: number;
  /** Adam step size. */
  learningRate: number;
  /** InfoNCE temperature over cosine similarities. */
  temperature: number;
  /** Decoupled weight decay towards the identity, per step (times the learning rate). */
  weightDecay: number;
  /**
   * Queries at least this similar (cosine of their embeddings) count as the same query: not each other's
   * negatives. Captions such as "a red circle" and "Red circle." name the same pictures.
   */
  sameQuery: number;
  /** Low-rank form `W = I + U V^T` of this rank; undefined: a full matrix. */
  rank?: number;
  /** Epochs without a better validation figure before stopping. */
  patience: number;
  /** Cut-off of the validation recall. */
  k: number;
  seed: number;
}

/** Where training pairs came from. */
export type PairKind = 'caption' | 'section' | 'eval' | 'file' | 'synthetic';

export interface SplitCounts {
  train: number;
  validation: number;
  test: number;
}

/** What the adapter was trained on and how, as stored (and shown by `sources`, `doctor` and `tune --json`). */
export interface TrainingSummary {
  /** Pairs built, by where they came from (before the split). */
  pairs: Partial<Record<PairKind, number>>;
  /** Pairs per side of the split (validation: early stopping; test: the figures below). */
  split: SplitCounts;
  /** Items per side of the split. */
  items: SplitCounts;
  epochs: number;
  bestEpoch: number;
  stoppedEarly: boolean;
  seconds: number;
  settings: TrainSettings;
}

/** Held-out (test split) figures without and with the adapter. */
export interface HeldOutComparison {
  k: number;
  pairs: number;
  /** Items the held-out queries were ranked among: those with a pair (a caption, a title, a question). */
  candidates: number;
  before: RankingFigures;
  after: RankingFigures;
  byModality: Partial<Record<Modality, { before: RankingFigures; after: RankingFigures }>>;
}

/** Everything in adapter.json but the weights. */
export interface AdapterInfo {
  format: typeof ADAPTER_FORMAT;
  version: number;
  /** 1 for the first adapter kept in this knowledge base, then 2, 3… */
  revision: number;
  createdAt: string;
  /** The embedding model whose query space it maps (the knowledge base's model). */
  embedModel: string;
  dim: number;
  kind: LinearMap['kind'];
  rank?: number;
  /** What it is applied to. */
  appliesTo: string;
  training: TrainingSummary;
  heldOut: HeldOutComparison;
}

interface AdapterWeights {
  encoding: 'float32le-base64';
  /** Full form: W, row-major. */
  matrix?: string;
  /** Low-rank form W = I + U V^T: U and V, row-major dim x rank. */
  u?: string;
  v?: string;
  /** sha256 of the decoded weight bytes, in the order above. */
  sha256: string;
}

export interface LoadedAdapter {
  info: AdapterInfo;
  map: LinearMap;
}

export const APPLIES_TO =
  'text queries in CLIP space (level 3); picture queries and levels 1-2 are not changed';

export function adapterPath(dir: string): string {
  return join(dir, ADAPTER_FILE);
}

function encodeFloats(values: Float32Array): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i]!, i * 4);
  return bytes;
}

function decodeFloats(base64: string, expected: number, what: string, path: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length !== expected * 4)
    throw corrupt(path, `${what} holds ${bytes.length / 4} values, not ${expected}`);
  const out = new Float32Array(expected);
  for (let i = 0; i < expected; i++) out[i] = bytes.readFloatLE(i * 4);
  for (const x of out)
    if (!Number.isFinite(x)) throw corrupt(path, `${what} holds a value that is not a number`);
  return out;
}

function corrupt(path: string, reason: string): MmragError {
  return new MmragError(
    `The query adapter ${path} is unreadable: ${reason}.`,
    'Remove it with `mmrag tune --reset` (searches then use the model as it is), or train a new one with `mmrag tune`.',
    'adapter_corrupt',
  );
}

/** adapter.json's text for an adapter. */
export function encodeAdapter(info: AdapterInfo, map: LinearMap): string {
  const parts = map.kind === 'full' ? [map.matrix] : [map.u, map.v];
  const bytes = parts.map(encodeFloats);
  const hash = createHash('sha256');
  for (const b of bytes) hash.update(b);
  const weights: AdapterWeights = { encoding: 'float32le-base64', sha256: hash.digest('hex') };
  if (map.kind === 'full') weights.matrix = bytes[0]!.toString('base64');
  else {
    weights.u = bytes[0]!.toString('base64');
    weights.v = bytes[1]!.toString('base64');
  }
  const record = {
    ...info,
    kind: map.kind,
    dim: map.dim,
    ...(map.kind === 'low-rank' ? { rank: map.rank } : {}),
    weights,
  };
  return `${JSON.stringify(record, null, 2)}\n`;
}

/**
 * Parse and check adapter.json: the format and version, the embedding model and width it was trained for (an
 * adapter for another model is refused: its map means nothing in this model's space), and the weights' hash.
 */
export function decodeAdapter(
  text: string,
  expected: { embedModel: string; dim: number | undefined },
  path = ADAPTER_FILE,
): LoadedAdapter {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw corrupt(path, `not valid JSON (${errorMessage(err)})`);
  }
  if (typeof value !== 'object' || value === null) throw corrupt(path, 'not a JSON object');
  const record = value as AdapterInfo & { weights?: AdapterWeights };
  if (record.format !== ADAPTER_FORMAT)
    throw corrupt(path, `not a query adapter (format ${String(record.format)})`);
  if (typeof record.version !== 'number' || record.version > ADAPTER_FORMAT_VERSION) {
    throw new MmragError(
      `The query adapter ${path} was written by a newer mmrag (format ${String(record.version)}, this one reads ${ADAPTER_FORMAT_VERSION}).`,
      'Upgrade mmrag, or remove the adapter with `mmrag tune --reset`.',
      'adapter_too_new',
    );
  }
  if (
    record.embedModel !== expected.embedModel ||
    (expected.dim !== undefined && record.dim !== expected.dim)
  ) {
    throw new MmragError(
      `The query adapter ${path} was trained for the embedding model ${record.embedModel} (${record.dim}-d), not ${expected.embedModel}${expected.dim === undefined ? '' : ` (${expected.dim}-d)`}.`,
      'Train a new one for this model with `mmrag tune`, or remove it with `mmrag tune --reset`; `--no-adapter` searches without it.',
      'adapter_mismatch',
    );
  }
  const dim = record.dim;
  const weights = record.weights;
  if (!Number.isInteger(dim) || dim < 1 || !weights || weights.encoding !== 'float32le-base64')
    throw corrupt(path, 'no weights');
  let map: LinearMap;
  if (record.kind === 'full') {
    if (typeof weights.matrix !== 'string') throw corrupt(path, 'the matrix is missing');
    map = { kind: 'full', dim, matrix: decodeFloats(weights.matrix, dim * dim, 'the matrix', path) };
  } else if (record.kind === 'low-rank') {
    const rank = record.rank;
    if (
      !Number.isInteger(rank) ||
      rank! < 1 ||
      typeof weights.u !== 'string' ||
      typeof weights.v !== 'string'
    )
      throw corrupt(path, 'the low-rank factors are missing');
    map = {
      kind: 'low-rank',
      dim,
      rank: rank!,
      u: decodeFloats(weights.u, dim * rank!, 'U', path),
      v: decodeFloats(weights.v, dim * rank!, 'V', path),
    };
  } else {
    throw corrupt(path, `unknown kind ${String(record.kind)}`);
  }
  const hash = createHash('sha256');
  for (const part of map.kind === 'full' ? [map.matrix] : [map.u, map.v]) hash.update(encodeFloats(part));
  if (hash.digest('hex') !== weights.sha256) throw corrupt(path, 'the weights do not match their checksum');
  const { weights: _weights, ...info } = record;
  return { info, map };
}

/** The knowledge base's adapter, or undefined when it has none. */
export function readAdapter(
  dir: string,
  expected: { embedModel: string; dim: number | undefined },
): LoadedAdapter | undefined {
  const path = adapterPath(dir);
  if (!existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw corrupt(path, errorMessage(err));
  }
  return decodeAdapter(text, expected, path);
}

/** Replace the adapter all at once: a search running meanwhile sees the old one or the new one. */
export function writeAdapter(dir: string, info: AdapterInfo, map: LinearMap): string {
  const path = adapterPath(dir);
  writeFileAtomic(path, encodeAdapter(info, map));
  return path;
}

/** Remove the adapter; false when there was none. */
export function removeAdapter(dir: string): boolean {
  const path = adapterPath(dir);
  if (!existsSync(path)) return false;
  rmSync(path, { force: true });
  return true;
}

/**
 * The adapter a knowledge base's searches use, read on first use and again whenever the file changes (a
 * `mmrag tune` in another process takes effect on the next search of a running server).
 */
export class QueryAdapterSource {
  private cached: { stamp: string; adapter: LoadedAdapter | undefined } | undefined;

  constructor(
    private readonly dir: string,
    private readonly expected: () => { embedModel: string; dim: number | undefined },
    /** The knowledge base's write lock: an adapter is replaced or removed by one writer at a time. */
    private readonly lock: () => Promise<() => void>,
  ) {}

  /** What the current adapter is (undefined: none); throws when it is unreadable or for another model. */
  info(): AdapterInfo | undefined {
    return this.current()?.info;
  }

  /** Replace the adapter (`mmrag tune` keeps one this way); returns the file written. */
  async save(info: AdapterInfo, map: LinearMap): Promise<string> {
    const release = await this.lock();
    try {
      return writeAdapter(this.dir, info, map);
    } finally {
      release();
    }
  }

  /** Remove the adapter (searches use the model as it is again); false when there was none. */
  async reset(): Promise<boolean> {
    const release = await this.lock();
    try {
      return removeAdapter(this.dir);
    } finally {
      release();
    }
  }

  /** The current adapter (undefined: none); throws when the file is unreadable or for another model. */
  current(): LoadedAdapter | undefined {
    const path = adapterPath(this.dir);
    let stamp = 'none';
    try {
      const stat = statSync(path);
      stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch {
      // No adapter.
    }
    if (this.cached?.stamp !== stamp) {
      this.cached = { stamp, adapter: stamp === 'none' ? undefined : readAdapter(this.dir, this.expected()) };
    }
    return this.cached.adapter;
  }

  /** The text query's vector through the adapter (unchanged when there is none). */
  adaptText(vector: Float32Array): Float32Array {
    const adapter = this.current();
    return adapter ? adaptQuery(adapter.map, vector) : vector;
  }
}
