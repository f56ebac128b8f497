/** One cell as Markdown: newlines and runs of whitespace collapse to one space, pipes and backslashes escaped. */
export function markdownCell(value: string): string {
  return value.replace(/\s+/g, ' ').trim().replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
}

function markdownRow(cells: string[], width: number): string {
  const padded: string[] = [];
  for (let i = 0; i < width; i++) padded.push(markdownCell(cells[i] ?? ''));
  return `| ${padded.join(' | ')} |`;
}

/** The number of columns a table needs: the widest of the header and every row (at least one). */
function tableWidth(header: string[], rows: string[][]): number {
  let width = Math.max(1, header.length);
  for (const row of rows) width = Math.max(width, row.length);
  return width;
}

/**
 * A GitHub-flavoured Markdown table. Short rows are padded with empty cells and the header widened to the
 * widest row, so every line has the same number of columns.
 */
export function tableToMarkdown(header: string[], rows: string[][]): string {
  const width = tableWidth(header, rows);
  const lines = [markdownRow(header, width), `|${' --- |'.repeat(width)}`];
  for (const row of rows) lines.push(markdownRow(row, width));
  return lines.join('\n');
}

export interface SplitTableOptions {
  /** Largest Markdown size of one group; a group always holds at least one row, even a longer one. */
  maxChars: number;
  /**
   * The 1-based spreadsheet row number of `rows[0]`; the following rows are numbered consecutively.
   * With the header in spreadsheet row 1, this is 2.
   */
  firstRow: number;
  /** The spreadsheet row number of each of `rows` (overrides `firstRow`), for tables with skipped blank rows. */
  rowNumbers?: number[];
}

export interface TableGroup {
  markdown: string;
  /** Spreadsheet row numbers of the first and last data row in the group (the repeated header not counted). */
  rows: [number, number];
}

/**
 * Split a table into row groups that each repeat the header, so every piece reads on its own.
 *
 * - A table whose whole Markdown fits in `maxChars` is one group.
 * - Otherwise rows are added to a group in order while its Markdown stays within `maxChars`; a row that
 *   does not fit starts the next group (and a single row larger than `maxChars` is a group of its own).
 * - `rows` of a group is the spreadsheet row numbers of its first and last data row. A table with a header
 *   and no data rows is one group whose range is the header's row (`firstRow - 1`) twice.
 */
export function splitTable(header: string[], rows: string[][], opts: SplitTableOptions): TableGroup[] {
  const rowNumber = (i: number): number => opts.rowNumbers?.[i] ?? opts.firstRow + i;
  const width = tableWidth(header, rows);
  if (rows.length === 0) {
    const headerRow = opts.firstRow - 1;
    return [{ markdown: tableToMarkdown(header, []), rows: [headerRow, headerRow] }];
  }
  const head = `${markdownRow(header, width)}\n|${' --- |'.repeat(width)}`;
  const lines = rows.map((row) => markdownRow(row, width));

  const groups: TableGroup[] = [];
  let start = 0;
  let size = head.length;
  for (let i = 0; i < lines.length; i++) {
    const added = 1 + lines[i]!.length;
    if (i > start && size + added > opts.maxChars) {
      groups.push({
        markdown: [head, ...lines.slice(start, i)].join('\n'),
        rows: [rowNumber(start), rowNumber(i - 1)],
      });
      start = i;
      size = head.length;
    }
    size += added;
  }
  groups.push({
    markdown: [head, ...lines.slice(start)].join('\n'),
    rows: [rowNumber(start), rowNumber(lines.length - 1)],
  });
  return groups;
}

/** How many Markdown characters a table item may hold, given the configured text chunk size. */
export function tableChunkChars(chunkSize: number): number {
  return Math.max(512, chunkSize * 4);
}

/** Drop trailing empty cells of a row and trailing empty rows of a table (values already as strings). */
export function trimTable(rows: string[][]): string[][] {
  const out = rows.map((row) => {
    let end = row.length;
    while (end > 0 && row[end - 1]!.trim() === '') end--;
    return end === row.length ? row : row.slice(0, end);
  });
  while (out.length > 0 && out[out.length - 1]!.length === 0) out.pop();
  return out;
}
