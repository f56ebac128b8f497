import { relative } from 'node:path';
import { formatSourceLine } from '../generate/prompt.js';
import type { IngestSummary } from '../ingest/pipeline.js';
import { formatLocation } from '../location.js';
import { displayUrl } from '../redact.js';
import type { AdapterInfo } from '../retrieve/query-adapter.js';
import { formatRelevance } from '../retrieve/relevance.js';
import type { Hit, SourceRecord } from '../types.js';
import { printable } from './terminal.js';

/**
 * A path as the user would type it: relative to the working directory when inside it; a URL without its
 * credentials; control characters made visible (a file name is data).
 */
export function displayPath(path: string, cwd = process.cwd()): string {
  if (path.includes('://')) return printable(displayUrl(path));
  const rel = relative(cwd, path);
  return printable(rel && !rel.startsWith('..') ? rel : path);
}

function clip(text: string, max: number): string {
  const flat = printable(text.replace(/\s+/g, ' ').trim());
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function heading(hit: Hit): string {
  const where = formatLocation(hit.location);
  return printable([hit.title, hit.section].filter(Boolean).join(' › ') + (where ? ` (${where})` : ''));
}

/** Human-readable search results. */
export function formatHits(result: { text: Hit[]; images: Hit[] }, scoring: string): string {
  const lines: string[] = [];
  // The readable score first (the evidence that placed the hit: cosine, BM25, reranker), then the others; the
  // fused rank score, which only orders hits, is left to --json.
  const score = (hit: Hit) => {
    const main = hit.relevance
      ? formatRelevance(hit.relevance)
      : hit.score.toFixed(scoring === 'softmax' ? 4 : 3);
    if (!hit.scores) return main;
    const kind = hit.relevance?.kind;
    const others = [
      hit.scores.vector !== undefined &&
        kind !== 'cosine' &&
        kind !== 'softmax' &&
        `${scoring === 'softmax' ? 'p' : 'cos'} ${hit.scores.vector.toFixed(3)}`,
      hit.scores.bm25 !== undefined && kind !== 'bm25' && `bm25 ${hit.scores.bm25.toFixed(2)}`,
    ].filter(Boolean);
    return others.length > 0 ? `${main} (${others.join(', ')})` : main;
  };
  lines.push(`Text (${result.text.length})`);
  if (result.text.length === 0) lines.push('  no text passed the threshold');
  result.text.forEach((hit, i) => {
    lines.push(`  ${i + 1}. ${score(hit)}  ${heading(hit)}`);
    lines.push(`     ${clip(hit.text ?? '', 160)}`);
    lines.push(`     ${displayPath(hit.source)}`);
  });
  lines.push(`Images (${result.images.length})`);
  if (result.images.length === 0) lines.push('  no picture passed the threshold');
  result.images.forEach((hit, i) => {
    lines.push(`  ${i + 1}. ${score(hit)}  ${heading(hit)}: "${clip(hit.caption ?? '', 100)}"`);
    lines.push(`     ${hit.image ? displayPath(hit.image) : ''}  (from ${displayPath(hit.source)})`);
  });
  return lines.join('\n');
}

/** One line about a knowledge base's query adapter (`mmrag tune`), for `sources`, `doctor` and `eval`. */
export function formatAdapterLine(info: AdapterInfo): string {
  const h = info.heldOut;
  const gain = h.after.mrr - h.before.mrr;
  return `revision ${info.revision} (format ${info.version}) of ${info.createdAt.slice(0, 10)}, ${info.kind === 'low-rank' ? `rank ${info.rank}` : 'full matrix'}: held-out MRR ${h.before.mrr.toFixed(3)} -> ${h.after.mrr.toFixed(3)} (${gain >= 0 ? '+' : ''}${gain.toFixed(3)}), R@${h.k} ${h.before.recall.toFixed(3)} -> ${h.after.recall.toFixed(3)} on ${h.pairs} pairs`;
}

/** The source list; `adapter` is the query adapter's line (or why it cannot be used), when there is one. */
export function formatSources(records: SourceRecord[], adapter?: string): string {
  if (records.length === 0) return 'The knowledge base is empty. Add files with `mmrag ingest <path>`.';
  const lines = records.map((r) => {
    const date = new Date(r.ingestedAt).toISOString().slice(0, 16).replace('T', ' ');
    return `${r.type.padEnd(9)} ${String(r.textItems).padStart(5)} text ${String(r.imageItems).padStart(4)} img  ${date}  ${displayPath(r.source)}`;
  });
  const text = records.reduce((n, r) => n + r.textItems, 0);
  const images = records.reduce((n, r) => n + r.imageItems, 0);
  lines.push(`${records.length} sources, ${text} text items, ${images} pictures`);
  if (adapter) lines.push(`Query adapter: ${adapter}`);
  return lines.join('\n');
}

export function formatSummary(summary: IngestSummary): string {
  const lines = [
    `${summary.ingested} ingested, ${summary.unchanged} unchanged, ${summary.skipped} skipped, ${summary.failed} failed` +
      ` — ${summary.textItems} text items, ${summary.imageItems} pictures in ${summary.seconds.toFixed(1)} s`,
  ];
  const types = Object.entries(summary.byType).filter(([, c]) => c);
  if (types.length > 1 || summary.failed + summary.skipped > 0) {
    for (const [type, c] of types) {
      const parts = [
        c!.ingested && `${c!.ingested} ingested (${c!.items} items)`,
        c!.unchanged && `${c!.unchanged} unchanged`,
        c!.skipped && `${c!.skipped} skipped`,
        c!.failed && `${c!.failed} failed`,
      ].filter(Boolean);
      lines.push(`  ${type.padEnd(10)} ${parts.join(', ')}`);
    }
  }
  const warnings = summary.warnings;
  if (warnings && warnings.total > 0) {
    const pictures =
      warnings.pictures > 0
        ? `: ${warnings.pictures} ${warnings.pictures === 1 ? 'picture' : 'pictures'} could not be read or fetched`
        : '';
    const offline = warnings.network > 0 ? ' (offline? pictures on the web need a connection)' : '';
    lines.push(
      `${warnings.total} ${warnings.total === 1 ? 'warning' : 'warnings'}${pictures}${offline}; each is listed with its file above (--json: "warnings")`,
    );
  }
  return lines.join('\n');
}

/**
 * The numbered source list under an answer: `sources` as `ask` returns them (numbered 1.. in order, as in the
 * prompt); with citations, only the cited ones. Paths are shown as the user would type them.
 */
export function formatSourceList(sources: Hit[], citations: number[] = []): string[] {
  const cited = new Set(citations);
  return sources
    .map((hit, i) => ({ n: i + 1, hit }))
    .filter((s) => cited.size === 0 || cited.has(s.n))
    .map((s) => formatSourceLine(s.n, { ...s.hit, source: displayPath(s.hit.source) }));
}

/**
 * `ask --show-prompt`: exactly what the model is sent (or would be, with no model): the message text, then the
 * pictures attached to it, by path, in the order the model receives them.
 */
export function formatPromptShown(retrieved: {
  prompt: string;
  attached: ReadonlyArray<{ path: string }>;
  willAnswer: boolean;
}): string {
  const count = retrieved.attached.length;
  const head = retrieved.willAnswer
    ? `Prompt sent to the model (${count} ${count === 1 ? 'picture' : 'pictures'} attached)`
    : 'Prompt (not sent: no model answered)';
  const pictures = retrieved.attached.map((p, i) => `  ${i + 1}. ${displayPath(p.path)}`);
  return [
    `----- ${head} -----`,
    printable(retrieved.prompt, { multiline: true }),
    ...(count > 0 ? ['----- Pictures attached, in order -----', ...pictures] : []),
    '----- end of prompt -----',
    '',
  ].join('\n');
}
