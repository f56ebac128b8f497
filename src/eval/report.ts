import type { EvalMetrics, EvalReport, SettingReport } from './run.js';

/** What `mmrag eval --json` prints. `overall` repeats the first setting's overall metrics. */
export interface EvalReportJson {
  k: number;
  questions: number;
  unanswerable: number;
  overall: EvalMetrics;
  settings: Array<{
    name: string;
    options: Record<string, unknown>;
    overall: EvalMetrics;
    text: EvalMetrics;
    images: EvalMetrics;
    gate?: SettingReport['gate'];
    refused: SettingReport['refused'];
    perQuestion: SettingReport['perQuestion'];
  }>;
}

const ZERO: EvalMetrics = { 'recall@k': 0, mrr: 0, 'ndcg@10': 0 };

export function evalReportJson(report: EvalReport): EvalReportJson {
  return {
    k: report.k,
    questions: report.questions,
    unanswerable: report.unanswerable,
    overall: report.settings[0]?.overall ?? ZERO,
    settings: report.settings.map((s) => ({
      name: s.name,
      options: s.options,
      overall: s.overall,
      text: s.text,
      images: s.images,
      ...(s.gate ? { gate: s.gate } : {}),
      refused: s.refused,
      perQuestion: s.perQuestion,
    })),
  };
}

const GROUPS = ['overall', 'text', 'images'] as const;
const METRICS = ['recall@k', 'mrr', 'ndcg@10'] as const;

/** Settings as rows; recall@k, MRR and nDCG@10 as columns, for overall, text and pictures. */
export function formatEvalTable(report: EvalReport): string {
  const metricLabel = (m: (typeof METRICS)[number]) =>
    m === 'recall@k' ? `R@${report.k}` : m === 'mrr' ? 'MRR' : 'nDCG@10';
  // With questions the documents do not answer: the gate's precision and recall of "not answerable".
  const gated = report.settings.some((s) => s.gate);
  const header = ['setting', ...GROUPS.flatMap(() => METRICS.map(metricLabel)), ...(gated ? ['P', 'R'] : [])];
  const rows = report.settings.map((s) => [
    s.name,
    ...GROUPS.flatMap((g) => METRICS.map((m) => s[g][m].toFixed(3))),
    ...(gated ? [s.gate?.precision.toFixed(3) ?? '-', s.gate?.recall.toFixed(3) ?? '-'] : []),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const cell = (text: string, c: number) => (c === 0 ? text.padEnd(widths[c]!) : text.padStart(widths[c]!));
  const line = (cells: string[]) => cells.map(cell).join('  ').trimEnd();
  // A group title above each block of three metric columns.
  const groupTitles = [''.padEnd(widths[0]!)];
  GROUPS.forEach((g, i) => {
    const span =
      METRICS.reduce((n, _, j) => n + widths[1 + i * METRICS.length + j]!, 0) + 2 * (METRICS.length - 1);
    const title = g === 'images' ? 'pictures' : g;
    groupTitles.push(
      `${'-'.repeat(Math.max(0, Math.floor((span - title.length - 2) / 2)))} ${title} `.padEnd(span, '-'),
    );
  });
  if (gated) {
    const first = 1 + GROUPS.length * METRICS.length;
    const span = widths[first]! + widths[first + 1]! + 2;
    groupTitles.push('not answer.'.padStart(span));
  }
  const answerable = report.questions - report.unanswerable;
  return [
    `Evaluated ${report.questions} question${report.questions === 1 ? '' : 's'}, k = ${report.k}` +
      (report.unanswerable > 0
        ? ` (${answerable} answerable, scored by retrieval; ${report.unanswerable} the documents do not answer, scored by the gate: precision P and recall R of "not answerable").`
        : '.'),
    '',
    groupTitles.join('  ').trimEnd(),
    line(header),
    ...rows.map(line),
    ...refusedNotes(report),
  ].join('\n');
}

/** One line per setting that refused questions (they are scored 0 in its row). */
function refusedNotes(report: EvalReport): string[] {
  const notes = report.settings
    .filter((s) => s.refused.length > 0)
    .map((s) => {
      const first = s.refused[0]!;
      const n = s.refused.length;
      return `  ${s.name}: ${n} question${n === 1 ? '' : 's'} refused, scored 0 (line ${s.refused.map((r) => r.line).join(', ')}: ${first.message})`;
    });
  return notes.length > 0 ? ['', 'Refused:', ...notes] : [];
}
