import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKnowledgeBase } from '../../src/kb.js';
import { FIXTURE_MODEL, ROOT, tempDir, writeShapesPage } from '../helpers/fixtures.js';

let tmp: ReturnType<typeof tempDir>;

beforeAll(async () => {
  tmp = tempDir('mmrag-eval-');
  const site = join(tmp.dir, 'site');
  await writeShapesPage(site);
  writeFileSync(
    join(site, 'harbour.html'),
    '<html><head><title>Harbour</title></head><body><p>The Zorblax lantern is lit on the night of the autumn festival.</p></body></html>',
  );
  const kb = await openKnowledgeBase({ kb: join(tmp.dir, 'kb'), embed: { model: FIXTURE_MODEL } });
  await kb.ingest([site]);
  await kb.close();
  writeFileSync(
    join(tmp.dir, 'questions.jsonl'),
    [
      JSON.stringify({ query: 'Zorblax', relevant: ['harbour.html'] }),
      JSON.stringify({ query: 'qwertyuiop', relevant: ['shapes.html'] }),
    ].join('\n'),
  );
});

afterAll(() => tmp?.cleanup());

describe('mmrag eval', () => {
  it('prints metrics that match a hand-checked case', () => {
    const run = spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin', 'mmrag.js'),
        'eval',
        'questions.jsonl',
        '--kb',
        'kb',
        '--settings',
        'bm25',
        '--k',
        '5',
        '--json',
      ],
      { cwd: tmp.dir, encoding: 'utf8' },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout);
    // BM25 finds the only chunk with "Zorblax" first (recall 1, reciprocal rank 1, nDCG 1); nothing matches
    // the second question (all 0). Means over the two questions: 0.5 each. No picture is relevant to either.
    expect(report.overall).toEqual({ 'recall@k': 0.5, mrr: 0.5, 'ndcg@10': 0.5 });
    expect(report.settings[0].text).toEqual({ 'recall@k': 0.5, mrr: 0.5, 'ndcg@10': 0.5 });
    expect(report.settings[0].images).toEqual({ 'recall@k': 0, mrr: 0, 'ndcg@10': 0 });
    expect(report).toMatchObject({ k: 5, questions: 2 });
  });

  it('prints a table by default, and names a bad questions file line', () => {
    const table = spawnSync(
      process.execPath,
      [join(ROOT, 'bin', 'mmrag.js'), 'eval', 'questions.jsonl', '--kb', 'kb'],
      {
        cwd: tmp.dir,
        encoding: 'utf8',
      },
    );
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/R@5\s+MRR\s+nDCG@10/);
    writeFileSync(join(tmp.dir, 'bad.jsonl'), '{"query": "x", "relevant": ["a"]}\n{not json}\n');
    const bad = spawnSync(
      process.execPath,
      [join(ROOT, 'bin', 'mmrag.js'), 'eval', 'bad.jsonl', '--kb', 'kb'],
      {
        cwd: tmp.dir,
        encoding: 'utf8',
      },
    );
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/Line 2/);
  });
});
