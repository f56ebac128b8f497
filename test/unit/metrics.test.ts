import { describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import type { EvalQuestion } from '../../src/eval/dataset.js';
import { dcgAtK, mean, ndcgAtK, recallAtK, reciprocalRank } from '../../src/eval/metrics.js';
import { evalReportJson, formatEvalTable } from '../../src/eval/report.js';
import { type EvalSearch, evaluate, interleave } from '../../src/eval/run.js';
import type { Hit } from '../../src/types.js';

describe('ranking metrics', () => {
  it('recall@k counts relevant hits in the first k over the number of relevant entries', () => {
    expect(recallAtK([0, 1, 0, 2], 4, 2)).toBe(0.25);
    expect(recallAtK([0, 1, 0, 2], 4, 4)).toBe(0.5);
    expect(recallAtK([0, 1, 0, 2], 2, 10)).toBe(1);
    expect(recallAtK([], 3, 5)).toBe(0);
    expect(recallAtK([1], 0, 5)).toBe(0);
  });

  it('reciprocal rank is 1 / the rank of the first relevant hit', () => {
    expect(reciprocalRank([1, 0])).toBe(1);
    expect(reciprocalRank([0, 0, 3])).toBeCloseTo(1 / 3, 12);
    expect(reciprocalRank([0, 0])).toBe(0);
    expect(reciprocalRank([])).toBe(0);
  });

  it('nDCG@k uses gain 2^g - 1 and discount log2(i + 2)', () => {
    // DCG of [3, 0, 2]: 7/1 + 0 + 3/2 = 8.5; ideal [3, 2]: 7 + 3/log2(3) = 8.893
    expect(dcgAtK([3, 0, 2], 10)).toBeCloseTo(8.5, 12);
    expect(ndcgAtK([3, 0, 2], [2, 3])).toBeCloseTo(8.5 / (7 + 3 / Math.log2(3)), 12);
    expect(ndcgAtK([3, 0, 2], [2, 3])).toBeCloseTo(0.9558, 4);
    // A cut-off of 1 sees only the first hit.
    expect(ndcgAtK([0, 1], [1], 1)).toBe(0);
    expect(ndcgAtK([1, 0], [1])).toBe(1);
    expect(ndcgAtK([0, 0], [])).toBe(0);
    // Relevant hits beyond position 10 do not count by default.
    expect(ndcgAtK([...new Array(10).fill(0), 1], [1])).toBe(0);
  });

  it('mean of nothing is 0', () => {
    expect(mean([])).toBe(0);
    expect(mean([1, 2])).toBe(1.5);
  });
});

function hit(id: string, source: string, modality: 'text' | 'image'): Hit {
  return { id, modality, score: 0, similarity: 0, title: '', section: '', source, type: 'html' };
}

describe('evaluate on a small hand-checked case', () => {
  const q1: EvalQuestion = {
    line: 1,
    query: 'a question',
    relevant: ['a.html', 'b.html'],
    grades: { 'a.html': 2 },
  };
  const q2: EvalQuestion = { line: 2, query: '', image: '/q/red.png', relevant: ['img-7'] };
  const results = new Map<EvalQuestion, { text: Hit[]; images: Hit[] }>([
    [
      q1,
      {
        // a.html twice: the second chunk of an already found entry counts as not relevant.
        text: [
          hit('t1', '/x/a.html', 'text'),
          hit('t2', '/x/c.html', 'text'),
          hit('t3', '/x/a.html', 'text'),
          hit('t4', '/x/b.html', 'text'),
        ],
        images: [hit('i1', '/x/c.html', 'image'), hit('i2', '/x/b.html', 'image')],
      },
    ],
    [q2, { text: [], images: [hit('img-3', '/x/c.html', 'image'), hit('img-7', '/x/d.html', 'image')] }],
  ]);
  const calls: string[] = [];
  const search: EvalSearch = async (question, setting) => {
    calls.push(`${setting.name}:${question.line}`);
    return results.get(question)!;
  };

  it('scores each modality and the interleaved overall ranking, then averages', async () => {
    const report = await evaluate(search, [q1, q2], [{ name: 's1', options: { mode: 'hybrid' } }], 3);
    expect(calls).toEqual(['s1:1', 's1:2']);
    const [s] = report.settings;
    const ideal1 = 3 + 1 / Math.log2(3); // grades [2, 1]
    // q1 text: grades [2, 0, 0, 1] -> recall@3 1/2, RR 1, DCG 3 + 1/log2(5)
    const q1Text = (3 + 1 / Math.log2(5)) / ideal1;
    // q1 images: [0, 1] -> recall@3 1/2, RR 1/2, DCG 1/log2(3)
    const q1Images = 1 / Math.log2(3) / ideal1;
    // q1 overall: t1 i1 t2 i2 t3 t4 -> [2, 0, 0, 1, 0, 0]: recall@3 1/2, RR 1, DCG 3 + 1/log2(5)
    // q2 text: nothing -> 0, 0, 0; images and overall: [0, 1] -> recall 1, RR 1/2, nDCG 1/log2(3)
    const q2Images = 1 / Math.log2(3);
    expect(s!.perQuestion[0]).toMatchObject({
      line: 1,
      overall: { 'recall@k': 0.5, mrr: 1 },
      text: { 'recall@k': 0.5, mrr: 1 },
      images: { 'recall@k': 0.5, mrr: 0.5 },
    });
    expect(s!.perQuestion[0]!.overall['ndcg@10']).toBeCloseTo(q1Text, 12);
    expect(s!.perQuestion[0]!.images['ndcg@10']).toBeCloseTo(q1Images, 12);
    expect(s!.perQuestion[1]).toMatchObject({
      line: 2,
      image: '/q/red.png',
      text: { 'recall@k': 0, mrr: 0, 'ndcg@10': 0 },
      images: { 'recall@k': 1, mrr: 0.5 },
    });

    expect(s!.overall['recall@k']).toBeCloseTo(0.75, 12);
    expect(s!.overall.mrr).toBeCloseTo(0.75, 12);
    expect(s!.overall['ndcg@10']).toBeCloseTo((q1Text + q2Images) / 2, 12);
    expect(s!.overall['ndcg@10']).toBeCloseTo(0.7879, 4);
    expect(s!.text).toEqual({ 'recall@k': 0.25, mrr: 0.5, 'ndcg@10': expect.closeTo(q1Text / 2, 12) });
    expect(s!.images['recall@k']).toBeCloseTo(0.75, 12);
    expect(s!.images.mrr).toBeCloseTo(0.5, 12);
    expect(s!.images['ndcg@10']).toBeCloseTo((q1Images + q2Images) / 2, 12);
    expect(s!.images['ndcg@10']).toBeCloseTo(0.4023, 4);
  });

  it('runs every setting in order; the JSON repeats the first setting as "overall"; the table shows each', async () => {
    calls.length = 0;
    const report = await evaluate(
      search,
      [q1, q2],
      [
        { name: 'vector', options: {} },
        { name: 'bm25', options: {} },
      ],
      1,
    );
    expect(calls).toEqual(['vector:1', 'vector:2', 'bm25:1', 'bm25:2']);
    const json = evalReportJson(report);
    expect(json.k).toBe(1);
    expect(json.questions).toBe(2);
    expect(json.overall).toEqual(report.settings[0]!.overall);
    expect(json.settings.map((s) => s.name)).toEqual(['vector', 'bm25']);
    // k = 1: q1 overall [2, ...] finds 1 of 2; q2 overall [0, 1] finds none in the first 1.
    expect(json.overall['recall@k']).toBeCloseTo(0.25, 12);
    const table = formatEvalTable(report);
    const lines = table.split('\n');
    expect(lines[0]).toBe('Evaluated 2 questions, k = 1.');
    expect(lines[2]).toMatch(/overall.*text.*pictures/);
    expect(lines[3]!.split(/\s+/)).toEqual([
      'setting',
      'R@1',
      'MRR',
      'nDCG@10',
      'R@1',
      'MRR',
      'nDCG@10',
      'R@1',
      'MRR',
      'nDCG@10',
    ]);
    expect(lines[4]!.split(/\s+/)).toEqual([
      'vector',
      ...[report.settings[0]!.overall, report.settings[0]!.text, report.settings[0]!.images].flatMap((m) =>
        [m['recall@k'], m.mrr, m['ndcg@10']].map((x) => x.toFixed(3)),
      ),
    ]);
    expect(lines[5]!.startsWith('bm25')).toBe(true);
  });

  it('names the setting and the question line when a search fails, and rejects a bad k', async () => {
    const failing: EvalSearch = async () => {
      throw new Error('unknown mode');
    };
    await expect(evaluate(failing, [q1], [{ name: 'odd', options: {} }], 5)).rejects.toThrow(
      'Setting "odd", question on line 1 ("a question"): unknown mode',
    );
    await expect(evaluate(search, [q1], [], 0)).rejects.toThrow('k must be a whole number');
  });

  it('scores a question the setting refuses (bad_query) as 0, lists it, and goes on', async () => {
    const textOnly: EvalSearch = async (question) => {
      if (question.image)
        throw new MmragError('Searching by a picture needs level 3.', undefined, 'bad_query');
      return results.get(question)!;
    };
    const report = await evaluate(textOnly, [q1, q2], [{ name: 'level1', options: { level: 1 } }], 3);
    const [s] = report.settings;
    expect(s!.refused).toEqual([{ line: 2, message: 'Searching by a picture needs level 3.' }]);
    expect(s!.perQuestion[1]!.overall).toEqual({ 'recall@k': 0, mrr: 0, 'ndcg@10': 0 });
    // q1 overall as above (recall 1/2, RR 1), q2 zero: the means halve.
    expect(s!.overall['recall@k']).toBeCloseTo(0.25, 12);
    expect(s!.overall.mrr).toBeCloseTo(0.5, 12);
    expect(formatEvalTable(report)).toContain(
      'level1: 1 question refused, scored 0 (line 2: Searching by a picture needs level 3.)',
    );
    expect(evalReportJson(report).settings[0]!.refused).toHaveLength(1);
  });

  it('interleaves text first, then the rest of the longer list', () => {
    expect(interleave(['t1', 't2', 't3'], ['i1'])).toEqual(['t1', 'i1', 't2', 't3']);
    expect(interleave([], ['a', 'b'])).toEqual(['a', 'b']);
  });
});
