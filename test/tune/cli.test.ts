/**
 * `mmrag tune` end to end through the real CLI (bin/mmrag.js, the built package): train and keep, compare with
 * --no-adapter, eval before/after, sources and doctor, refusal that keeps the adapter in place, an adapter for
 * another model refused, and --reset.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { cliEnv, runCli } from '../helpers/robustness.js';
import { type CorpusPicture, QUERY_PHRASINGS, writeDomainCorpus } from './domains.js';

/** The built CLI with the fixture model, no LLM and no OCR (the shared runner of the CLI tests). */
const mmrag = (args: string[], cwd: string) => runCli(args, cwd, cliEnv({ MMRAG_LLM: 'none' }));

let tmp: ReturnType<typeof tempDir>;
let outline: CorpusPicture[];
const QUERY = QUERY_PHRASINGS[0]!('red', 'circle');
let untuned: { images: Array<{ id: string; similarity: number }> };

const search = async (extra: string[] = []) => {
  const run = await mmrag(
    [
      'search',
      QUERY,
      '--kb',
      'outline-kb',
      '--mode',
      'vector',
      '--text-k',
      '0',
      '--image-k',
      '10',
      '--image-threshold',
      '-1',
      '--json',
      ...extra,
    ],
    tmp.dir,
  );
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as typeof untuned;
};

beforeAll(async () => {
  tmp = tempDir('mmrag-tune-cli-');
  outline = await writeDomainCorpus(join(tmp.dir, 'outline'), {
    captioned: 3,
    uncaptioned: 1,
    seed: 5,
    domains: ['outline'],
  });
  await writeDomainCorpus(join(tmp.dir, 'plain'), {
    captioned: 2,
    uncaptioned: 0,
    seed: 6,
    domains: ['plain'],
  });
  const a = await mmrag(['ingest', 'outline', '--kb', 'outline-kb'], tmp.dir);
  expect(a.code).toBe(0);
  const b = await mmrag(['ingest', 'plain', '--kb', 'plain-kb'], tmp.dir);
  expect(b.code).toBe(0);
  // Questions for `eval`: held-out phrasings for the uncaptioned pictures (relevant by file name).
  const questions = outline
    .filter((p) => !p.captioned)
    .slice(0, 12)
    .map((p) =>
      JSON.stringify({
        query: QUERY_PHRASINGS[1]!(p.colour, p.shape),
        relevant: [p.file.split('/').slice(-2).join('/')],
      }),
    );
  writeFileSync(join(tmp.dir, 'questions.jsonl'), `${questions.join('\n')}\n`);
}, 300_000);

afterAll(() => tmp?.cleanup());

describe('mmrag tune (CLI)', () => {
  it('search before tuning, for comparison', async () => {
    untuned = await search();
    expect(untuned.images).toHaveLength(10);
  });

  it('trains, shows the held-out figures and keeps the adapter', async () => {
    const run = await mmrag(['tune', '--kb', 'outline-kb'], tmp.dir);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('Training');
    expect(run.stdout).toMatch(
      /Pairs: \d+ used \(caption \d+\): \d+ to train on, \d+ for validation, \d+ held out/,
    );
    expect(run.stdout).toMatch(/R@5\s+\d\.\d{3}\s+\d\.\d{3}/);
    expect(run.stdout).toContain('Kept: query adapter revision 1');
    expect(existsSync(join(tmp.dir, 'outline-kb', 'adapter.json'))).toBe(true);
  }, 120_000);

  it('search uses it; --no-adapter searches exactly as before', async () => {
    const tuned = await search();
    const without = await search(['--no-adapter']);
    expect(without).toEqual(untuned);
    expect(tuned.images.map((h) => h.similarity)).not.toEqual(untuned.images.map((h) => h.similarity));
  });

  it('sources and doctor show the adapter', async () => {
    const sources = await mmrag(['sources', '--kb', 'outline-kb'], tmp.dir);
    expect(sources.stdout).toMatch(
      /Query adapter: revision 1 \(format 1\) of \d{4}-\d\d-\d\d, full matrix: held-out MRR/,
    );
    const doctor = await mmrag(['doctor', '--kb', 'outline-kb', '--json'], tmp.dir);
    const check = (JSON.parse(doctor.stdout) as Array<{ name: string; ok: boolean; detail: string }>).find(
      (c) => c.name === 'query adapter',
    );
    expect(check).toMatchObject({ ok: true, detail: expect.stringContaining('revision 1') });
  });

  it('eval reports each setting without and with the adapter, side by side', async () => {
    const run = await mmrag(
      ['eval', 'questions.jsonl', '--kb', 'outline-kb', '--settings', 'vector,bm25'],
      tmp.dir,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Query adapter revision 1');
    const rows = run.stdout.split('\n').map((l) => l.split(/\s+/)[0]);
    expect(rows).toEqual(expect.arrayContaining(['vector', 'vector+adapter', 'bm25']));
    expect(rows).not.toContain('bm25+adapter');
    const json = JSON.parse(
      (await mmrag(['eval', 'questions.jsonl', '--kb', 'outline-kb', '--json'], tmp.dir)).stdout,
    );
    expect(json.adapter).toMatchObject({ revision: 1 });
    expect(json.settings.map((s: { name: string }) => s.name)).toEqual(['default', 'default+adapter']);
  }, 60_000);

  it('refuses an adapter that does not improve the held-out figures, and keeps the one in place', async () => {
    // Plain shapes are what the model knows: nothing to gain. The outline adapter is copied in first.
    const adapter = join(tmp.dir, 'plain-kb', 'adapter.json');
    copyFileSync(join(tmp.dir, 'outline-kb', 'adapter.json'), adapter);
    const before = readFileSync(adapter);
    const run = await mmrag(['tune', '--kb', 'plain-kb', '--json'], tmp.dir);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.kept).toBe(false);
    expect(report.reason).toMatch(/the adapter in place stays/);
    expect(readFileSync(adapter)).toEqual(before);
    const text = await mmrag(['tune', '--kb', 'plain-kb'], tmp.dir);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('Not kept:');
  }, 120_000);

  it('an adapter for another model is refused with what to do; --no-adapter still searches', async () => {
    const path = join(tmp.dir, 'plain-kb', 'adapter.json');
    const record = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...record, embedModel: 'Xenova/clip-vit-base-patch32', dim: 512 }));
    const run = await mmrag(['search', 'a red circle', '--kb', 'plain-kb'], tmp.dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('was trained for the embedding model Xenova/clip-vit-base-patch32');
    expect(run.stderr).toContain('mmrag tune --reset');
    const ok = await mmrag(['search', 'a red circle', '--kb', 'plain-kb', '--no-adapter'], tmp.dir);
    expect(ok.code).toBe(0);
    const sources = await mmrag(['sources', '--kb', 'plain-kb'], tmp.dir);
    expect(sources.stdout).toMatch(/Query adapter: unusable: The query adapter .* was trained for/);
  });

  it('--reset removes it (and takes no training flags)', async () => {
    const usage = await mmrag(['tune', '--reset', '--epochs', '3', '--kb', 'outline-kb'], tmp.dir);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--reset removes the adapter; it does not train (drop --epochs)');
    const run = await mmrag(['tune', '--reset', '--kb', 'outline-kb'], tmp.dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Removed the query adapter');
    expect(existsSync(join(tmp.dir, 'outline-kb', 'adapter.json'))).toBe(false);
    expect(await search()).toEqual(untuned);
    const again = await mmrag(['tune', '--reset', '--kb', 'outline-kb', '--json'], tmp.dir);
    expect(JSON.parse(again.stdout)).toEqual({ reset: true, removed: false });
  });

  it('says what is missing when there is too little to learn from', async () => {
    const tiny = await writeDomainCorpus(join(tmp.dir, 'tiny'), {
      captioned: 0,
      uncaptioned: 1,
      seed: 1,
      domains: ['plain'],
    });
    expect(tiny.length).toBe(36);
    await mmrag(['ingest', 'tiny', '--kb', 'tiny-kb'], tmp.dir);
    const run = await mmrag(['tune', '--kb', 'tiny-kb'], tmp.dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Too few training pairs');
    expect(run.stderr).toContain('--synthetic N');
  }, 60_000);
});
