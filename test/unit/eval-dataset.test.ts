import { describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import {
  type EvalQuestion,
  gradeOf,
  idealGrades,
  isRelevant,
  judgeRanking,
  parseQuestions,
} from '../../src/eval/dataset.js';

function errorOf(jsonl: string): MmragError {
  try {
    parseQuestions(jsonl, '/evals');
  } catch (err) {
    expect(err).toBeInstanceOf(MmragError);
    expect((err as MmragError).code).toBe('usage');
    return err as MmragError;
  }
  throw new Error('parsed without an error');
}

describe('parseQuestions', () => {
  it('reads one question per line, skips blank lines, resolves pictures against the file folder', () => {
    const jsonl = [
      '{"query": "a red circle", "relevant": ["shapes.html"]}',
      '',
      '{"query": "", "image": "../pics/red.png", "relevant": ["shapes.html", "abc123"], "grades": {"abc123": 3}, "id": "by-picture"}',
      '  ',
      '{"query": "like this but blue", "image": "/abs/red.png", "relevant": ["x"]}',
      '',
    ].join('\n');
    expect(parseQuestions(jsonl, '/evals/set')).toEqual([
      { line: 1, query: 'a red circle', relevant: ['shapes.html'] },
      {
        line: 3,
        id: 'by-picture',
        query: '',
        image: '/evals/pics/red.png',
        relevant: ['shapes.html', 'abc123'],
        grades: { abc123: 3 },
      },
      { line: 5, query: 'like this but blue', image: '/abs/red.png', relevant: ['x'] },
    ]);
    expect(parseQuestions('{"query":"q","relevant":["a"]}\r\n', '/')).toHaveLength(1);
  });

  it('names the line and the problem, with the expected shape as the hint', () => {
    expect(errorOf('{}').hint).toContain('{"query": "...", "image": "path"?, "relevant"');
    expect(errorOf('{"query": "a", "relevant": ["x"]}\n{"query": "b", relevant: []}').message).toMatch(
      /^Line 2 of the questions file: not valid JSON/,
    );
    expect(errorOf('["a"]').message).toContain('Line 1 of the questions file: expected a JSON object');
    expect(errorOf('{"query": "a", "relevent": ["x"]}').message).toContain('unknown field relevent');
    expect(errorOf('{"query": "a"}').message).toContain('"relevant" must be a list');
    // An empty list is a question the documents do not answer (it measures the answerability gate).
    expect(parseQuestions('{"query": "a", "relevant": []}', '/')[0]?.relevant).toEqual([]);
    expect(errorOf('{"query": "a", "relevant": [""]}').message).toContain('non-empty strings');
    expect(errorOf('{"query": "a", "relevant": ["x", "x"]}').message).toContain('"x" is listed twice');
    expect(errorOf('{"query": 3, "relevant": ["x"]}').message).toContain('"query" must be a string');
    expect(errorOf('{"query": " ", "relevant": ["x"]}').message).toContain(
      'give a "query", an "image", or both',
    );
    expect(errorOf('{"image": 5, "relevant": ["x"]}').message).toContain('"image" must be a path');
    expect(errorOf('{"query": "a", "relevant": ["x"], "grades": {"y": 2}}').message).toContain(
      '"grades" names "y", which is not in "relevant"',
    );
    expect(errorOf('{"query": "a", "relevant": ["x"], "grades": {"x": 0}}').message).toContain('above 0');
    expect(errorOf('{"query": "a", "relevant": ["x"], "grades": [1]}').message).toContain(
      '"grades" must be an object',
    );
    expect(errorOf('\n\n').message).toContain('no questions');
  });
});

describe('relevance', () => {
  const question: EvalQuestion = {
    line: 1,
    query: 'q',
    relevant: ['kite.html', 'item-9', 'docs/report.pdf'],
    grades: { 'item-9': 3 },
  };

  it('an entry matches a hit by id, by equal source, or by source ending on a path boundary', () => {
    expect(isRelevant({ id: 'item-9', source: '/elsewhere.txt' }, 'item-9')).toBe(true);
    expect(isRelevant({ id: 'x', source: 'kite.html' }, 'kite.html')).toBe(true);
    expect(isRelevant({ id: 'x', source: '/site/kite.html' }, 'kite.html')).toBe(true);
    expect(isRelevant({ id: 'x', source: '/site/bigkite.html' }, 'kite.html')).toBe(false);
    expect(isRelevant({ id: 'x', source: '/home/me/docs/report.pdf' }, 'docs/report.pdf')).toBe(true);
    expect(isRelevant({ id: 'x', source: '/home/me/mydocs/report.pdf' }, 'docs/report.pdf')).toBe(false);
  });

  it('gradeOf: the grade of the first matching entry, 1 without grades, 0 for no match', () => {
    expect(gradeOf({ id: 'item-9', source: '/a/kite.html' }, question)).toBe(1); // kite.html comes first
    expect(gradeOf({ id: 'item-9', source: '/a/b.html' }, question)).toBe(3);
    expect(gradeOf({ id: 'z', source: '/a/b.html' }, question)).toBe(0);
  });

  it('judgeRanking counts each entry once: later hits of a found entry are not relevant', () => {
    const hits = [
      { id: 'c1', source: '/site/kite.html' },
      { id: 'c2', source: '/site/kite.html' },
      { id: 'item-9', source: '/site/other.html' },
      { id: 'c3', source: '/site/kite.html' },
      { id: 'item-9', source: '/site/kite.html' },
    ];
    expect(judgeRanking(hits, question)).toEqual([1, 0, 3, 0, 0]);
    // A hit matching two entries takes the first one not yet taken.
    expect(
      judgeRanking(
        [
          { id: 'item-9', source: '/kite.html' },
          { id: 'item-9', source: '/x' },
        ],
        question,
      ),
    ).toEqual([1, 3]);
    expect(idealGrades(question)).toEqual([3, 1, 1]);
  });
});
