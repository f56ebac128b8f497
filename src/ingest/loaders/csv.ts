import { basename, extname } from 'node:path';
import { MmragError } from '../../errors.js';
import type { TextItemDraft } from '../../types.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { decodeTextFile } from '../text-decode.js';
import { parserFailureReason } from './parse-error.js';
import { nonEmptyRows, sheetItems } from './spreadsheet.js';

export type Delimiter = ',' | ';' | '\t';
const DELIMITERS: Delimiter[] = [',', ';', '\t'];

/** Count `delimiter` outside double-quoted fields on each of the first lines of `sample`. */
function countsPerLine(sample: string, delimiter: string, maxLines: number): number[] {
  const counts: number[] = [];
  let count = 0;
  let quoted = false;
  for (let i = 0; i < sample.length && counts.length < maxLines; i++) {
    const ch = sample[i];
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === delimiter) count++;
    else if (!quoted && ch === '\n') {
      if (count > 0 || sample[i - 1] !== '\n') counts.push(count);
      count = 0;
    }
  }
  if (count > 0) counts.push(count);
  return counts;
}

/**
 * The delimiter of a delimited text: among comma, semicolon and tab, the one that splits the most of the
 * first 20 lines into the same number (> 0) of fields, ties going to the one with more fields per line;
 * `fallback` when none appears.
 */
export function sniffDelimiter(sample: string, fallback: Delimiter = ','): Delimiter {
  let best: { delimiter: Delimiter; score: number } | undefined;
  for (const delimiter of DELIMITERS) {
    const counts = countsPerLine(sample, delimiter, 20);
    const frequency = new Map<number, number>();
    for (const c of counts) if (c > 0) frequency.set(c, (frequency.get(c) ?? 0) + 1);
    let score = 0;
    for (const [perLine, lines] of frequency) score = Math.max(score, lines * 1000 + perLine);
    if (score > 0 && (!best || score > best.score)) best = { delimiter, score };
  }
  return best?.delimiter ?? fallback;
}

/** Comma/semicolon/tab-separated tables (.csv, .tsv): one table, sheet = the file name. */
export class CsvLoader implements Loader {
  readonly type = 'csv' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<TextItemDraft[]> {
    const file = input.path;
    const { text } = decodeTextFile(input.bytes, file);
    const fallback: Delimiter = extname(file).toLowerCase() === '.tsv' ? '\t' : ',';
    const delimiter = sniffDelimiter(text.slice(0, 64 * 1024), fallback);
    const { parse } = await import('csv-parse/sync');
    let records: string[][];
    try {
      records = parse(text, {
        delimiter,
        bom: true,
        relax_column_count: true,
        relax_quotes: true,
        skip_empty_lines: false,
      }) as string[][];
    } catch (err) {
      throw new MmragError(
        `${file}: cannot parse as ${delimiter === '\t' ? 'tab' : `"${delimiter}"`}-separated values: ${parserFailureReason(err)}`,
        'Check the quoting of the line named above.',
        'bad_file',
        { cause: err },
      );
    }
    const name = basename(file);
    const sheet = nonEmptyRows(
      name,
      records.map((cells, i) => ({ number: i + 1, cells })),
    );
    return sheetItems(sheet, name, ctx.chunkSize);
  }
}
