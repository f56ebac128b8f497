import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADAPTER_FORMAT,
  ADAPTER_FORMAT_VERSION,
  type AdapterInfo,
  adapterPath,
  decodeAdapter,
  QueryAdapterSource,
  readAdapter,
  removeAdapter,
  writeAdapter,
} from '../../src/retrieve/query-adapter.js';
import { fillGaussian, seededRandom } from '../../src/tune/random.js';
import { DEFAULT_TRAIN_SETTINGS } from '../../src/tune/train.js';
import { adaptQuery, identityMap, type LinearMap } from '../../src/vector/linear-map.js';
import { tempDir } from '../helpers/fixtures.js';

const MODEL = '/models/tiny-clip-shapes';
const figures = (mrr: number) => ({ pairs: 10, recall: mrr, mrr });

function info(map: LinearMap, revision = 1): AdapterInfo {
  return {
    format: ADAPTER_FORMAT,
    version: ADAPTER_FORMAT_VERSION,
    revision,
    createdAt: '2026-12-02T10:00:00.000Z',
    embedModel: MODEL,
    dim: map.dim,
    kind: map.kind,
    appliesTo: 'text queries',
    training: {
      pairs: { caption: 40 },
      split: { train: 28, validation: 6, test: 6 },
      items: { train: 28, validation: 6, test: 6 },
      epochs: 3,
      bestEpoch: 2,
      stoppedEarly: false,
      seconds: 0.1,
      settings: DEFAULT_TRAIN_SETTINGS,
    },
    heldOut: { k: 5, pairs: 6, candidates: 40, before: figures(0.4), after: figures(0.6), byModality: {} },
  };
}

function randomMap(dim: number, seed: number): LinearMap {
  const map = identityMap(dim);
  if (map.kind === 'full') fillGaussian(map.matrix, seededRandom(seed), 0.3);
  return map;
}

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir('mmrag-adapter-');
});
afterEach(() => tmp.cleanup());

/** These tests run alone: nothing else writes, so the lock is a no-op. */
const noLock = async () => () => {};

describe('adapter.json', () => {
  it('round-trips a full and a low-rank adapter exactly, with its description', () => {
    const full = randomMap(16, 1);
    writeAdapter(tmp.dir, info(full), full);
    const loaded = readAdapter(tmp.dir, { embedModel: MODEL, dim: 16 })!;
    expect(loaded.info).toMatchObject({ revision: 1, embedModel: MODEL, dim: 16, kind: 'full', version: 1 });
    expect(loaded.map).toEqual(full);

    const random = seededRandom(2);
    const lowRank: LinearMap = {
      kind: 'low-rank',
      dim: 16,
      rank: 3,
      u: fillGaussian(new Float32Array(48), random),
      v: fillGaussian(new Float32Array(48), random),
    };
    writeAdapter(tmp.dir, info(lowRank, 2), lowRank);
    const again = readAdapter(tmp.dir, { embedModel: MODEL, dim: 16 })!;
    expect(again.info).toMatchObject({ revision: 2, kind: 'low-rank', rank: 3 });
    expect(again.map).toEqual(lowRank);
  });

  it('refuses an adapter trained for another model or width, saying what to do', () => {
    const map = randomMap(8, 3);
    writeAdapter(tmp.dir, info(map), map);
    expect(() => readAdapter(tmp.dir, { embedModel: 'Xenova/clip-vit-base-patch32', dim: 8 })).toThrow(
      expect.objectContaining({
        code: 'adapter_mismatch',
        hint: expect.stringContaining('mmrag tune --reset'),
      }),
    );
    expect(() => readAdapter(tmp.dir, { embedModel: MODEL, dim: 512 })).toThrow(
      expect.objectContaining({ code: 'adapter_mismatch' }),
    );
  });

  it('refuses a newer format, a changed weight and a torn file', () => {
    const map = randomMap(8, 4);
    writeAdapter(tmp.dir, info(map), map);
    const text = readFileSync(adapterPath(tmp.dir), 'utf8');
    const record = JSON.parse(text);
    const expected = { embedModel: MODEL, dim: 8 };
    expect(() =>
      decodeAdapter(JSON.stringify({ ...record, version: ADAPTER_FORMAT_VERSION + 1 }), expected),
    ).toThrow(expect.objectContaining({ code: 'adapter_too_new' }));
    const bytes = Buffer.from(record.weights.matrix, 'base64');
    bytes.writeFloatLE(bytes.readFloatLE(0) + 1, 0);
    expect(() =>
      decodeAdapter(
        JSON.stringify({ ...record, weights: { ...record.weights, matrix: bytes.toString('base64') } }),
        expected,
      ),
    ).toThrow(/checksum/);
    expect(() => decodeAdapter(text.slice(0, text.length / 2), expected)).toThrow(
      expect.objectContaining({ code: 'adapter_corrupt' }),
    );
    expect(() => decodeAdapter(JSON.stringify({ ...record, format: 'something-else' }), expected)).toThrow(
      /not a query adapter/,
    );
  });

  it('the facade source picks up a new adapter, and its removal, without reopening', () => {
    const source = new QueryAdapterSource(tmp.dir, () => ({ embedModel: MODEL, dim: 8 }), noLock);
    const query = fillGaussian(new Float32Array(8), seededRandom(5), 2);
    expect(source.current()).toBeUndefined();
    expect(source.adaptText(query)).toBe(query);
    const map = randomMap(8, 6);
    writeAdapter(tmp.dir, info(map), map);
    expect(source.current()?.info.revision).toBe(1);
    expect(Array.from(source.adaptText(query))).toEqual(Array.from(adaptQuery(map, query)));
    expect(removeAdapter(tmp.dir)).toBe(true);
    expect(removeAdapter(tmp.dir)).toBe(false);
    expect(source.current()).toBeUndefined();
  });

  it('a file written by hand with a broken body is reported, not applied', () => {
    writeFileSync(adapterPath(tmp.dir), '{"format": "mmrag-query-adapter", "version": 1');
    const source = new QueryAdapterSource(tmp.dir, () => ({ embedModel: MODEL, dim: 8 }), noLock);
    expect(() => source.current()).toThrow(expect.objectContaining({ code: 'adapter_corrupt' }));
  });
});
