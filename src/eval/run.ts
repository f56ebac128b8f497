import { errorMessage, MmragError } from '../errors.js';
import type { Hit } from '../types.js';
import { type EvalQuestion, idealGrades, judgeRanking } from './dataset.js';
import { mean, ndcgAtK, recallAtK, reciprocalRank } from './metrics.js';

/** A named retrieval setting; `options` go to `kb.search` as given (level, mode, rerank, where, diversity…). */
export interface EvalSetting {
  name: string;
  options: Record<string, unknown>;
}

export interface EvalMetrics {
  'recall@k': number;
  mrr: number;
  'ndcg@10': number;
}

export interface QuestionScores {
  line: number;
  id?: string;
  query: string;
  image?: string;
  /** False for a question the documents do not answer (`relevant: []`): it has no retrieval metrics. */
  answerable: boolean;
  /** The answerability gate's verdict, when the search judged it. */
  judgedAnswerable?: boolean;
  overall: EvalMetrics;
  text: EvalMetrics;
  images: EvalMetrics;
}

/** How well the answerability gate recognised the questions the documents do not answer. */
export interface GateMetrics {
  /** Questions with `relevant: []`. */
  unanswerable: number;
  /** Questions the gate judged not answerable. */
  judgedUnanswerable: number;
  /** Of the questions judged not answerable, the share that are (1 when none was judged so). */
  precision: number;
  /** Of the questions that are not answerable, the share judged so (1 when there are none). */
  recall: number;
}

export interface SettingReport {
  name: string;
  options: Record<string, unknown>;
  /** Questions this setting refused (e.g. a query by picture at level 1): scored 0, listed here. */
  refused: Array<{ line: number; message: string }>;
  /** Means over the answerable questions. */
  overall: EvalMetrics;
  text: EvalMetrics;
  images: EvalMetrics;
  /** The gate's precision and recall of "not answerable", when the search judged answerability. */
  gate?: GateMetrics;
  perQuestion: QuestionScores[];
}

export interface EvalReport {
  k: number;
  questions: number;
  /** Of them, the questions the documents do not answer (`relevant: []`). */
  unanswerable: number;
  settings: SettingReport[];
}

export type EvalSearch = (
  question: EvalQuestion,
  setting: EvalSetting,
) => Promise<{ text: Hit[]; images: Hit[]; answerability?: { answerable: boolean } }>;

/**
 * The two modalities as one ranking, alternating text and picture hits (text first; when one list runs out the
 * rest of the other follows). Text and picture scores are not comparable (different score distributions in
 * CLIP space, different k and thresholds), so merging by score would favour one modality; alternating
 * favours neither.
 */
export function interleave<T>(text: T[], images: T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(text.length, images.length); i++) {
    if (i < text.length) out.push(text[i]!);
    if (i < images.length) out.push(images[i]!);
  }
  return out;
}

/** Recall@k, reciprocal rank and nDCG@10 of one ranking for one question. */
export function scoreRanking(
  hits: Array<{ id: string; source: string }>,
  question: EvalQuestion,
  k: number,
): EvalMetrics {
  const grades = judgeRanking(hits, question);
  return {
    'recall@k': recallAtK(grades, question.relevant.length, k),
    mrr: reciprocalRank(grades),
    'ndcg@10': ndcgAtK(grades, idealGrades(question), 10),
  };
}

function scoreQuestion(
  question: EvalQuestion,
  found: { text: Hit[]; images: Hit[]; answerability?: { answerable: boolean } },
  k: number,
): QuestionScores {
  const scores: QuestionScores = {
    line: question.line,
    query: question.query,
    answerable: question.relevant.length > 0,
    ...(found.answerability ? { judgedAnswerable: found.answerability.answerable } : {}),
    overall: scoreRanking(interleave(found.text, found.images), question, k),
    text: scoreRanking(found.text, question, k),
    images: scoreRanking(found.images, question, k),
  };
  if (question.id !== undefined) scores.id = question.id;
  if (question.image !== undefined) scores.image = question.image;
  return scores;
}

/** Precision and recall of "not answerable" over the questions the gate judged; undefined when it judged none. */
export function gateMetrics(rows: readonly QuestionScores[]): GateMetrics | undefined {
  const judged = rows.filter((q) => q.judgedAnswerable !== undefined);
  if (judged.length === 0) return undefined;
  const unanswerable = judged.filter((q) => !q.answerable).length;
  const judgedUnanswerable = judged.filter((q) => q.judgedAnswerable === false).length;
  const right = judged.filter((q) => !q.answerable && q.judgedAnswerable === false).length;
  return {
    unanswerable,
    judgedUnanswerable,
    precision: judgedUnanswerable === 0 ? 1 : right / judgedUnanswerable,
    recall: unanswerable === 0 ? 1 : right / unanswerable,
  };
}

function meanMetrics(rows: EvalMetrics[]): EvalMetrics {
  return {
    'recall@k': mean(rows.map((r) => r['recall@k'])),
    mrr: mean(rows.map((r) => r.mrr)),
    'ndcg@10': mean(rows.map((r) => r['ndcg@10'])),
  };
}

/** The error code of a query a setting cannot take (kb.search: a picture query at level 1 or 2). */
const REFUSED_CODE = 'bad_query';

/**
 * Run every question under every setting (one search at a time) and score the rankings: per modality (text
 * hits alone, picture hits alone) and overall (the two interleaved). Each `relevant` entry counts once per
 * ranking (see `judgeRanking`), and recall's denominator is the number of entries, in every modality.
 * A question a setting refuses (MmragError `bad_query`) scores 0 there and is listed in `refused`, so every
 * setting is averaged over the same questions; any other search error stops the run, naming the question.
 */
export async function evaluate(
  search: EvalSearch,
  questions: EvalQuestion[],
  settings: EvalSetting[],
  k: number,
): Promise<EvalReport> {
  if (!Number.isInteger(k) || k < 1)
    throw new MmragError(`k must be a whole number >= 1, got ${k}.`, undefined, 'usage');
  const reports: SettingReport[] = [];
  for (const setting of settings) {
    const perQuestion: QuestionScores[] = [];
    const refused: SettingReport['refused'] = [];
    for (const question of questions) {
      let found: { text: Hit[]; images: Hit[] };
      try {
        found = await search(question, setting);
      } catch (err) {
        if (err instanceof MmragError && err.code === REFUSED_CODE) {
          // The setting cannot take this kind of query: a miss for the comparison, not a failed run.
          refused.push({ line: question.line, message: err.message });
          found = { text: [], images: [] };
          perQuestion.push(scoreQuestion(question, found, k));
          continue;
        }
        const hint = err instanceof MmragError ? err.hint : undefined;
        const code = err instanceof MmragError ? err.code : 'eval_failed';
        throw new MmragError(
          `Setting "${setting.name}", question on line ${question.line} (${JSON.stringify(question.query || question.image)}): ${errorMessage(err)}`,
          hint,
          code,
          { cause: err },
        );
      }
      perQuestion.push(scoreQuestion(question, found, k));
    }
    const answerable = perQuestion.filter((q) => q.answerable);
    const gate = gateMetrics(perQuestion);
    reports.push({
      name: setting.name,
      options: setting.options,
      refused,
      overall: meanMetrics(answerable.map((q) => q.overall)),
      text: meanMetrics(answerable.map((q) => q.text)),
      images: meanMetrics(answerable.map((q) => q.images)),
      ...(gate ? { gate } : {}),
      perQuestion,
    });
  }
  return {
    k,
    questions: questions.length,
    unanswerable: questions.filter((q) => q.relevant.length === 0).length,
    settings: reports,
  };
}
