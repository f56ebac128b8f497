/**
 * Seeded fuzzing of every document loader: valid files of each type are bit-flipped, cut, spliced with other
 * files, overwritten and repeated, then read the way the pipeline reads them (type detection, the loader, the
 * pictures decoded). Each must give items or one clear error within the per-file timeout; programming errors
 * (TypeError and friends) leaking out count as failures. MMRAG_FUZZ_SEED and MMRAG_FUZZ_CASES change the run.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenAiTranscriber } from '../../src/enrich/transcribe.js';
import { MmragError } from '../../src/errors.js';
import { detectType } from '../../src/ingest/detect.js';
import { LoaderRegistry } from '../../src/ingest/registry.js';
import { decodeToRgb, sniffImageMime } from '../../src/media/image-decode.js';
import type { ItemDraft } from '../../src/types.js';
import { tempDir } from '../helpers/fixtures.js';
import { makeShapesVideo, makeToneWav } from '../helpers/make-media.js';
import {
  loaderContext,
  MUTATION_KINDS,
  mutate,
  type RecordingServer,
  seededRandom,
  settleWithin,
  startRecordingServer,
  type ValidFixture,
  validFixtures,
} from '../helpers/robustness.js';

const LOADER_REGISTRY = new LoaderRegistry();
const SEED = Number(process.env.MMRAG_FUZZ_SEED ?? 20261127);
const CASES_PER_TYPE = Number(process.env.MMRAG_FUZZ_CASES ?? 40);
/** Recordings go through ffprobe/ffmpeg processes: fewer of them. */
const MEDIA_CASES = Number(process.env.MMRAG_FUZZ_MEDIA_CASES ?? 6);
const PER_FILE_TIMEOUT_MS = 10_000;
/** Messages of programming errors: a loader must turn bad input into a reason, not crash on it. */
const PROGRAMMING_ERROR =
  /Corrupted zip or bug|Bug : |Cannot read propert|Cannot set propert|is not a function|is not iterable|undefined is not|null is not|Maximum call stack|Invalid array length|\[object Object\]/;

interface Finding {
  file: string;
  how: string;
  outcome: 'items' | 'refused' | 'error' | 'timeout';
  detail: string;
  clear: boolean;
}

/** What the pipeline does with one file's bytes, short of embedding: detect, load, decode its pictures. */
async function readLikeThePipeline(
  path: string,
  bytes: Uint8Array,
  context = loaderContext(),
): Promise<{ drafts: ItemDraft[]; refused?: string }> {
  const detection = detectType(path, bytes);
  if ('mismatch' in detection) return { drafts: [], refused: detection.mismatch };
  if ('unsupported' in detection) return { drafts: [], refused: detection.unsupported };
  const loader = await LOADER_REGISTRY.loader(detection.type);
  if (!loader) return { drafts: [], refused: `no loader for ${detection.type}` };
  const drafts = await loader.load({ path, bytes }, context);
  for (const draft of drafts) {
    if (draft.modality !== 'image') continue;
    try {
      if (!(draft.picture.mime ?? sniffImageMime(draft.picture.bytes))) throw new MmragError('not a picture');
      await decodeToRgb(draft.picture.bytes, { maxPixels: 100_000_000, maxSide: 1024 });
    } catch (err) {
      // The pipeline drops such a picture with a warning; the reason must still be clear.
      if (!(err instanceof Error) || !err.message || PROGRAMMING_ERROR.test(err.message)) throw err;
    }
  }
  return { drafts };
}

function describeError(err: unknown): { detail: string; clear: boolean } {
  if (!(err instanceof Error)) return { detail: `non-Error thrown: ${String(err)}`, clear: false };
  const detail = `${err instanceof MmragError ? 'MmragError' : err.name}: ${err.message}`;
  return { detail, clear: err.message.trim().length > 0 && !PROGRAMMING_ERROR.test(err.message) };
}

function draftIsWellFormed(d: ItemDraft): boolean {
  if (typeof d.title !== 'string' || typeof d.section !== 'string') return false;
  if (d.modality === 'text') return typeof d.text === 'string' && d.text.length > 0;
  return d.picture.bytes instanceof Uint8Array && d.picture.bytes.length > 0 && typeof d.caption === 'string';
}

let tmp: ReturnType<typeof tempDir>;
let fixtures: ValidFixture[];
const findings: Finding[] = [];

beforeAll(async () => {
  tmp = tempDir('mmrag-fuzz-');
  fixtures = await validFixtures();
});

afterAll(() => {
  const by = (o: Finding['outcome']) => findings.filter((f) => f.outcome === o).length;
  console.log(
    `fuzz seed ${SEED}: ${findings.length} mutants of ${fixtures?.length ?? 0} types: ${by('items')} read, ${by('refused')} refused by type detection, ${by('error')} failed with a reason, ${by('timeout')} timed out`,
  );
  if (process.env.MMRAG_FUZZ_VERBOSE) {
    for (const f of findings) if (f.outcome !== 'items') console.log(`${f.file} (${f.how}): ${f.detail}`);
  }
  tmp?.cleanup();
});

describe('fuzzed files', () => {
  it('every valid fixture reads as items (the fuzz starts from good files)', async () => {
    for (const fixture of fixtures) {
      const path = join(tmp.dir, 'valid', fixture.name);
      mkdirSync(join(tmp.dir, 'valid'), { recursive: true });
      writeFileSync(path, fixture.bytes);
      const { drafts, refused } = await readLikeThePipeline(path, fixture.bytes);
      expect(refused, fixture.name).toBeUndefined();
      expect(drafts.length, fixture.name).toBeGreaterThan(0);
    }
  });

  it('mutants of every type: items or one clear reason, no crash, no hang past the per-file timeout', async () => {
    const random = seededRandom(SEED);
    for (const [f, fixture] of fixtures.entries()) {
      const dir = join(tmp.dir, `mutants-${f}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < CASES_PER_TYPE; i++) {
        const kind = MUTATION_KINDS[i % MUTATION_KINDS.length]!;
        const donor = fixtures[Math.floor(random() * fixtures.length)]!.bytes;
        const mutant = mutate(fixture.bytes, kind, random, donor);
        const path = join(dir, `${i}-${fixture.name}`);
        writeFileSync(path, mutant.bytes);
        const settled = await settleWithin(
          () => readLikeThePipeline(path, mutant.bytes),
          PER_FILE_TIMEOUT_MS,
        );
        const base = { file: `${fixture.name} #${i}`, how: mutant.how };
        if (settled.kind === 'timeout') {
          findings.push({
            ...base,
            outcome: 'timeout',
            detail: `no answer in ${PER_FILE_TIMEOUT_MS} ms`,
            clear: false,
          });
        } else if (settled.kind === 'error') {
          findings.push({ ...base, outcome: 'error', ...describeError(settled.error) });
        } else if (settled.value.refused !== undefined) {
          findings.push({
            ...base,
            outcome: 'refused',
            detail: settled.value.refused,
            clear: settled.value.refused.length > 0,
          });
        } else {
          const wellFormed = settled.value.drafts.every(draftIsWellFormed);
          findings.push({
            ...base,
            outcome: 'items',
            detail: `${settled.value.drafts.length} items`,
            clear: wellFormed,
          });
        }
      }
    }
    const bad = findings.filter((f) => !f.clear || f.outcome === 'timeout');
    expect(bad.map((f) => `${f.file} (${f.how}): ${f.outcome}: ${f.detail}`)).toEqual([]);
    // The mutations really do break files: most binary formats must have produced failures.
    expect(findings.filter((f) => f.outcome !== 'items').length).toBeGreaterThan(findings.length / 5);
  }, 120_000);

  it('mutated recordings (WAV through an OpenAI-compatible transcriber on loopback, MP4 keyframes): items or a reason', async () => {
    let transcriber: RecordingServer | undefined;
    try {
      transcriber = await startRecordingServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({
              text: 'A red circle marks the fuel dock.',
              segments: [{ start: 0, end: 1, text: 'A red circle marks the fuel dock.' }],
            }),
          );
        });
      });
      const dir = join(tmp.dir, 'media');
      mkdirSync(dir, { recursive: true });
      const wav = join(dir, 'tone.wav');
      await makeToneWav(wav);
      const mp4 = await makeShapesVideo(join(dir, 'shapes.mp4'), dir, { secondsEach: 1, fps: 5 });
      const context = {
        ...loaderContext(),
        transcriber: createOpenAiTranscriber({
          url: `${transcriber.url}/v1`,
          model: 'whisper-1',
          timeoutMs: 5000,
        }),
      };
      const random = seededRandom(SEED + 1);
      const before = findings.length;
      for (const original of [wav, mp4]) {
        const bytes = new Uint8Array(readFileSync(original));
        for (let i = 0; i < MEDIA_CASES; i++) {
          const kind = MUTATION_KINDS[i % MUTATION_KINDS.length]!;
          const mutant = mutate(bytes, kind, random);
          const path = join(dir, `${i}-${basename(original)}`);
          writeFileSync(path, mutant.bytes);
          const settled = await settleWithin(
            () => readLikeThePipeline(path, mutant.bytes, context),
            PER_FILE_TIMEOUT_MS * 2,
          );
          const base = { file: `${basename(original)} #${i}`, how: mutant.how };
          if (settled.kind === 'timeout')
            findings.push({ ...base, outcome: 'timeout', detail: 'no answer', clear: false });
          else if (settled.kind === 'error')
            findings.push({ ...base, outcome: 'error', ...describeError(settled.error) });
          else if (settled.value.refused !== undefined)
            findings.push({ ...base, outcome: 'refused', detail: settled.value.refused, clear: true });
          else
            findings.push({
              ...base,
              outcome: 'items',
              detail: `${settled.value.drafts.length} items`,
              clear: settled.value.drafts.every(draftIsWellFormed),
            });
        }
      }
      const media = findings.slice(before);
      expect(media.length).toBe(2 * MEDIA_CASES);
      expect(
        media
          .filter((f) => !f.clear || f.outcome === 'timeout')
          .map((f) => `${f.file} (${f.how}): ${f.outcome}: ${f.detail}`),
      ).toEqual([]);
    } finally {
      await transcriber?.close();
    }
  }, 120_000);
});
