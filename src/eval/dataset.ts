import { isAbsolute, resolve } from 'node:path';
import { MmragError } from '../errors.js';
import { sourceMatches } from '../retrieve/filter.js';

/**
 * One evaluation question, from one line of a JSONL file:
 * `{"query": "...", "image": "path"?, "relevant": ["..."], "grades": {"<entry>": grade}?, "id": "..."?}`.
 */
export interface EvalQuestion {
  /** 1-based line in the file, for messages and reports. */
  line: number;
  /** An optional label for reports. */
  id?: string;
  /** The text query ('' for a query by picture alone). */
  query: string;
  /** Absolute path of the query picture (given relative to the questions file). */
  image?: string;
  /** Entries naming what should be found: an item id, a source, or the end of a source path (a file name). */
  relevant: string[];
  /** Graded relevance per entry (> 0); entries without a grade count 1. */
  grades?: Record<string, number>;
}

const FIELDS = ['query', 'image', 'relevant', 'grades', 'id'];

function bad(line: number, message: string): MmragError {
  return new MmragError(
    `Line ${line} of the questions file: ${message}`,
    'Each line is {"query": "...", "image": "path"?, "relevant": ["file name or item id", ...], "grades": {"<entry>": 2}?}.',
    'usage',
  );
}

/**
 * Parse a JSONL questions file. Blank lines are skipped; every other line must be one question. Picture
 * paths are resolved against `baseDir` (the folder of the file).
 */
export function parseQuestions(jsonl: string, baseDir: string): EvalQuestion[] {
  const questions: EvalQuestion[] = [];
  const lines = jsonl.split(/\r?\n/);
  lines.forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw bad(line, `not valid JSON (${(err as Error).message}).`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw bad(line, 'expected a JSON object.');
    const obj = value as Record<string, unknown>;
    const unknown = Object.keys(obj).filter((key) => !FIELDS.includes(key));
    if (unknown.length > 0)
      throw bad(
        line,
        `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${FIELDS.join(', ')}).`,
      );

    const question: EvalQuestion = { line, query: '', relevant: [] };
    if (obj.query !== undefined && typeof obj.query !== 'string')
      throw bad(line, '"query" must be a string.');
    question.query = (obj.query as string | undefined) ?? '';
    if (obj.image !== undefined) {
      if (typeof obj.image !== 'string' || obj.image === '') throw bad(line, '"image" must be a path.');
      question.image = isAbsolute(obj.image) ? obj.image : resolve(baseDir, obj.image);
    }
    if (question.query.trim() === '' && !question.image)
      throw bad(line, 'give a "query", an "image", or both.');
    if (obj.id !== undefined) {
      if (typeof obj.id !== 'string') throw bad(line, '"id" must be a string.');
      question.id = obj.id;
    }

    const relevant = obj.relevant;
    // An empty list marks a question the documents do not answer: it measures the answerability gate.
    if (!Array.isArray(relevant))
      throw bad(
        line,
        '"relevant" must be a list of item ids or file names ([] for a question the documents do not answer).',
      );
    for (const entry of relevant) {
      if (typeof entry !== 'string' || entry.trim() === '')
        throw bad(line, '"relevant" entries must be non-empty strings.');
      if (question.relevant.includes(entry)) throw bad(line, `"${entry}" is listed twice in "relevant".`);
      question.relevant.push(entry);
    }

    if (obj.grades !== undefined) {
      if (typeof obj.grades !== 'object' || obj.grades === null || Array.isArray(obj.grades))
        throw bad(line, '"grades" must be an object mapping "relevant" entries to grades.');
      const grades: Record<string, number> = {};
      for (const [entry, grade] of Object.entries(obj.grades)) {
        if (!question.relevant.includes(entry))
          throw bad(line, `"grades" names "${entry}", which is not in "relevant".`);
        if (typeof grade !== 'number' || !Number.isFinite(grade) || grade <= 0)
          throw bad(
            line,
            `the grade of "${entry}" must be a number above 0 (leave unrelated items out of "relevant").`,
          );
        grades[entry] = grade;
      }
      question.grades = grades;
    }
    questions.push(question);
  });
  if (questions.length === 0)
    throw new MmragError('The questions file has no questions.', 'Write one JSON object per line.', 'usage');
  return questions;
}

/**
 * True when the hit is what `entry` names: its id equals the entry, or its source equals the entry or ends
 * with it on a path boundary (`kite.html` matches `/data/pages/kite.html`, not `/data/pages/bigkite.html`).
 */
export function isRelevant(hit: { id: string; source: string }, entry: string): boolean {
  return hit.id === entry || sourceMatches(hit.source, entry);
}

/** The grade of a relevant entry: from `grades`, else 1. */
export function gradeOfEntry(question: EvalQuestion, entry: string): number {
  return question.grades?.[entry] ?? 1;
}

/**
 * The grade of one hit taken alone: the grade of the first `relevant` entry it matches, 0 when it matches none.
 * (Judging a ranking also consumes entries: see `judgeRanking`.)
 */
export function gradeOf(hit: { id: string; source: string }, question: EvalQuestion): number {
  const entry = question.relevant.find((e) => isRelevant(hit, e));
  return entry === undefined ? 0 : gradeOfEntry(question, entry);
}

/**
 * The grades of a ranking, best first, with each `relevant` entry counted at most once: a hit takes the grade
 * of the first entry (in `relevant` order) it matches that no earlier hit has taken, and 0 when all the entries
 * it matches are taken. So ten chunks of one relevant file are one find, not ten, and recall cannot exceed 1.
 */
export function judgeRanking(hits: Array<{ id: string; source: string }>, question: EvalQuestion): number[] {
  const taken = new Set<string>();
  return hits.map((hit) => {
    const entry = question.relevant.find((e) => !taken.has(e) && isRelevant(hit, e));
    if (entry === undefined) return 0;
    taken.add(entry);
    return gradeOfEntry(question, entry);
  });
}

/** The best possible grades, best first: every entry's grade, descending. */
export function idealGrades(question: EvalQuestion): number[] {
  return question.relevant.map((entry) => gradeOfEntry(question, entry)).sort((a, b) => b - a);
}
