import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MmragError } from '../errors.js';
import type { SearchOptions } from '../kb.js';
import type { AdapterInfo } from '../retrieve/query-adapter.js';
import type { EvalFlags } from './flags.js';
import { formatAdapterLine } from './format.js';
import { openFromFlags } from './open.js';

/** Named retrieval settings for `mmrag eval --settings a,b,c`; each is passed to `kb.search` as options. */
export const EVAL_PRESETS: Record<string, Record<string, unknown>> = {
  level1: { level: 1 },
  level2: { level: 2 },
  level3: { level: 3 },
  vector: { mode: 'vector' },
  bm25: { mode: 'bm25' },
  hybrid: { mode: 'hybrid' },
  'hybrid+rerank': { mode: 'hybrid', rerank: true },
};

export const DEFAULT_EVAL_K = 5;

/** The settings `--settings` names, in the order given; none: the knowledge base's defaults. */
export function evalSettingsFromFlag(
  value: string | undefined,
): Array<{ name: string; options: Record<string, unknown> }> {
  if (value === undefined || value.trim() === '') return [{ name: 'default', options: {} }];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => n !== 'default' && !(n in EVAL_PRESETS));
  if (unknown.length > 0) {
    throw new MmragError(
      `Unknown evaluation setting${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}.`,
      `Settings: default, ${Object.keys(EVAL_PRESETS).join(', ')} (e.g. --settings vector,bm25,hybrid).`,
      'usage',
    );
  }
  return [...new Set(names)].map((name) => ({
    name,
    options: name === 'default' ? {} : { ...EVAL_PRESETS[name] },
  }));
}

/**
 * With a query adapter, each setting it can change (level 3, not BM25 alone) is measured twice, side by side:
 * without it (the setting's name) and with it (`name+adapter`).
 */
export function withAdapterRows(
  settings: Array<{ name: string; options: Record<string, unknown> }>,
  search: { level: number; mode: string },
): Array<{ name: string; options: Record<string, unknown> }> {
  return settings.flatMap((s) => {
    const level = (s.options.level as number | undefined) ?? search.level;
    const mode = (s.options.mode as string | undefined) ?? search.mode;
    if (level !== 3 || mode === 'bm25') return [s];
    return [
      { name: s.name, options: { ...s.options, adapter: false } },
      { name: `${s.name}+adapter`, options: s.options },
    ];
  });
}

function adapterNote(adapter: AdapterInfo): string {
  const lines = [
    `Query adapter ${formatAdapterLine(adapter)}.`,
    'Each setting it changes is measured without it, then with it (+adapter).',
  ];
  const evalPairs = adapter.training.pairs.eval ?? 0;
  if (evalPairs > 0)
    lines.push(
      `Note: it was trained on ${evalPairs} pairs from eval questions (tune measured the ones it held out, never trained on them); if they came from this file, the +adapter rows are optimistic.`,
    );
  return `${lines.join('\n')}\n`;
}

/**
 * `mmrag eval <questions.jsonl>`: search every question under every setting and print recall@k, MRR and
 * nDCG@10 per modality and overall. Rankings are what is measured: each modality is asked for max(k, 10)
 * hits with no score threshold, so thresholds tuned for `ask` do not hide hits from the metrics.
 */
export async function evalCommand(file: string, flags: EvalFlags): Promise<void> {
  const k = flags.k === undefined ? DEFAULT_EVAL_K : Number(flags.k);
  if (!Number.isInteger(k) || k < 1)
    throw new MmragError(`--k expects a whole number >= 1, got "${flags.k}".`, undefined, 'usage');
  const settings = evalSettingsFromFlag(flags.settings);
  const path = resolve(file);
  if (!existsSync(path))
    throw new MmragError(
      `Questions file not found: ${path}`,
      'Give a JSONL file, one question per line.',
      'usage',
    );
  const { parseQuestions } = await import('../eval/dataset.js');
  const questions = parseQuestions(await readFile(path, 'utf8'), dirname(path));
  for (const q of questions) {
    if (q.image && !existsSync(q.image))
      throw new MmragError(
        `Line ${q.line} of ${path}: the picture ${q.image} does not exist.`,
        'Picture paths are relative to the questions file.',
        'usage',
      );
  }
  const { evaluate } = await import('../eval/run.js');
  const { evalReportJson, formatEvalTable } = await import('../eval/report.js');
  const kb = await openFromFlags(flags, {}, { mustExist: true });
  try {
    const stats = await kb.stats();
    if (stats.sources === 0) {
      throw new MmragError(
        `The knowledge base ${kb.dir} is empty.`,
        'Add files first: mmrag ingest <files or folders>',
        'empty_kb',
      );
    }
    const adapter = kb.queryAdapter.info();
    const compared = adapter ? withAdapterRows(settings, kb.config.search) : settings;
    const depth = Math.max(k, 10);
    const report = await evaluate(
      (question, setting) =>
        kb.search({ text: question.query || undefined, image: question.image }, {
          ...setting.options,
          judge: true,
          text: { k: depth, threshold: Number.NEGATIVE_INFINITY },
          image: { k: depth, threshold: Number.NEGATIVE_INFINITY },
        } as SearchOptions),
      questions,
      compared,
      k,
    );
    if (flags.json) {
      const json = evalReportJson(report);
      const described = adapter
        ? { ...json, adapter: { revision: adapter.revision, createdAt: adapter.createdAt } }
        : json;
      process.stdout.write(`${JSON.stringify(described, null, 2)}\n`);
    } else {
      if (adapter) process.stdout.write(`${adapterNote(adapter)}\n`);
      process.stdout.write(`${formatEvalTable(report)}\n`);
    }
  } finally {
    await kb.close();
  }
}
