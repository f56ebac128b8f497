import { basename } from 'node:path';
import type { Element } from 'domhandler';
import type { CellValue } from 'exceljs';
import type JSZip from 'jszip';
import { MmragError } from '../../errors.js';
import type { TextItemDraft } from '../../types.js';
import type { Loader, LoaderContext, LoaderInput } from '../loader.js';
import { splitTable, tableChunkChars, trimTable } from '../tables.js';
import { openZipSafely, requireZipText, verifyZipExpansion } from '../zip.js';
import { childElements, loadXml, odfMimetype, odfText } from './docx.js';
import { parserFailureReason } from './parse-error.js';

/** A sheet as text: its non-empty rows with their 1-based spreadsheet row numbers. */
export interface SheetRows {
  name: string;
  rows: string[][];
  rowNumbers: number[];
}

/** Most columns an .ods row is expanded to (LibreOffice's default sheet width). */
export const MAX_COLUMNS = 16_384;
/** Most cells materialised from one .ods file: repeated rows/cells are expanded only up to this. */
export const MAX_CELLS = 5_000_000;

/**
 * Items of one sheet: the first non-empty row is the header, every later non-empty row data; split into row
 * groups that repeat the header (`splitTable`), each with location `{sheet, rows: [first, last]}` (1-based
 * spreadsheet rows of its data rows). Section = sheet name, title = the file name.
 */
export function sheetItems(sheet: SheetRows, title: string, chunkSize: number): TextItemDraft[] {
  const [header, ...rows] = sheet.rows;
  const [headerRow, ...rowNumbers] = sheet.rowNumbers;
  if (!header || headerRow === undefined) return [];
  return splitTable(header, rows, {
    maxChars: tableChunkChars(chunkSize),
    firstRow: headerRow + 1,
    rowNumbers,
  }).map((group) => ({
    modality: 'text',
    title,
    section: sheet.name,
    text: group.markdown,
    location: { sheet: sheet.name, rows: group.rows },
  }));
}

/** Keep the rows with any non-blank cell (trailing blank cells dropped), with their row numbers. */
export function nonEmptyRows(name: string, rows: Array<{ number: number; cells: string[] }>): SheetRows {
  const sheet: SheetRows = { name, rows: [], rowNumbers: [] };
  for (const row of rows) {
    const [cells = []] = trimTable([row.cells]);
    if (cells.length === 0) continue;
    sheet.rows.push(cells);
    sheet.rowNumbers.push(row.number);
  }
  return sheet;
}

// ---------- .xlsx (exceljs) ----------

function formatNumber(n: number): string {
  // Drop binary floating-point noise (0.1 + 0.2), as a spreadsheet displays it.
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(15)));
}

/** ISO date for midnight values (dates), ISO date-time otherwise. */
export function formatDate(d: Date): string {
  if (Number.isNaN(d.getTime())) return '';
  const iso = d.toISOString();
  if (iso.endsWith('T00:00:00.000Z')) return iso.slice(0, 10);
  return iso.replace('.000Z', 'Z');
}

/** A cell's value as a person reads it: formulas as their result, rich text as plain text, dates ISO. */
export function cellText(value: CellValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (value instanceof Date) return formatDate(value);
  if ('richText' in value) return value.richText.map((r) => r.text).join('');
  if ('hyperlink' in value)
    return typeof value.text === 'string' ? value.text : cellText(value.text as CellValue);
  if ('error' in value) return value.error;
  if ('formula' in value || 'sharedFormula' in value) {
    if (value.result !== undefined) return cellText(value.result as CellValue);
    const formula = 'formula' in value ? value.formula : value.sharedFormula;
    return formula ? `=${formula}` : '';
  }
  return '';
}

/**
 * The error for a workbook whose cells hold more text than one file may produce: cells can share one string
 * (2,000 cells showing one 100 KB shared string are 200 M characters from an 8 KB file).
 */
function tooMuchText(file: string, maxChars: number): MmragError {
  return new MmragError(
    `${file}: refused: its cells hold more than ${maxChars} characters of text (ingest.maxTextChars)`,
    'Raise ingest.maxTextChars if the file is genuine, or export the data as CSV.',
    'too_large',
  );
}

async function xlsxSheets(bytes: Uint8Array, file: string, maxChars: number): Promise<SheetRows[]> {
  const { default: ExcelJS } = await import('exceljs');
  const workbook = new ExcelJS.Workbook();
  try {
    await workbook.xlsx.load(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as unknown as ArrayBuffer,
    );
  } catch (err) {
    throw new MmragError(
      `${file}: cannot read the workbook: ${parserFailureReason(err)}`,
      'Re-save the file from Excel or LibreOffice as .xlsx.',
      'bad_file',
      { cause: err },
    );
  }
  let chars = 0;
  return workbook.worksheets.map((ws) => {
    const rows: Array<{ number: number; cells: string[] }> = [];
    ws.eachRow({ includeEmpty: false }, (row, number) => {
      const cells: string[] = [];
      row.eachCell({ includeEmpty: true }, (cell, col) => {
        const text = cellText(cell.value);
        chars += text.length;
        if (chars > maxChars) throw tooMuchText(file, maxChars);
        cells[col - 1] = text;
      });
      rows.push({ number, cells: Array.from(cells, (c) => c ?? '') });
    });
    return nonEmptyRows(ws.name, rows);
  });
}

// ---------- .ods (content.xml) ----------

/** The text of an .ods cell: its paragraphs (the displayed value), else its typed value attribute. */
function odsCellText(cell: Element): string {
  const paragraphs = childElements(cell, 'text:p').map((p) => odfText(p));
  if (paragraphs.length > 0) return paragraphs.join('\n');
  const a = cell.attribs;
  return (
    a['office:date-value'] ??
    a['office:time-value'] ??
    a['office:boolean-value'] ??
    a['office:value'] ??
    a['office:string-value'] ??
    ''
  );
}

/**
 * Rows of an .ods table, with number-rows-repeated / number-columns-repeated expanded within bounds: blank
 * runs (LibreOffice writes a sheet's unused million rows and 16k columns this way) only advance the
 * counters, and repeated non-blank content is expanded at most to MAX_COLUMNS per row and `budget.cells`
 * over the file.
 */
export function odsTableRows(
  table: Element,
  file: string,
  budget: { cells: number; chars?: { left: number; limit: number } },
): Array<{ number: number; cells: string[] }> {
  const out: Array<{ number: number; cells: string[] }> = [];
  let rowNumber = 1;
  const takeRow = (row: Element) => {
    const repeat = Math.max(1, Number(row.attribs['table:number-rows-repeated'] ?? 1) || 1);
    const cells: string[] = [];
    let blanks = 0;
    for (const cell of childElements(row)) {
      if (cell.name !== 'table:table-cell' && cell.name !== 'table:covered-table-cell') continue;
      const span = Math.max(1, Number(cell.attribs['table:number-columns-repeated'] ?? 1) || 1);
      const text = odsCellText(cell);
      if (text.trim() === '') {
        blanks += span;
        continue;
      }
      if (cells.length + blanks >= MAX_COLUMNS) break;
      for (let i = 0; i < blanks; i++) cells.push('');
      blanks = 0;
      const copies = Math.min(span, MAX_COLUMNS - cells.length);
      for (let i = 0; i < copies; i++) cells.push(text);
    }
    if (cells.length > 0) {
      // Identical repeated rows beyond the spreadsheet's own row limit cannot be genuine content.
      const copies = Math.min(repeat, 1_048_576);
      const rowChars = cells.reduce((n, c) => n + c.length, 0);
      for (let i = 0; i < copies; i++) {
        if (budget.chars) {
          budget.chars.left -= rowChars;
          if (budget.chars.left < 0) throw tooMuchText(file, budget.chars.limit);
        }
        budget.cells -= cells.length;
        if (budget.cells < 0) {
          throw new MmragError(
            `${file}: refused: the spreadsheet expands to more than ${MAX_CELLS} cells`,
            'Split the spreadsheet, or export the data as CSV.',
            'too_large',
          );
        }
        out.push({ number: rowNumber + i, cells });
      }
    }
    rowNumber += repeat;
  };
  const walk = (nodes: Element[]) => {
    for (const node of nodes) {
      if (node.name === 'table:table-row') takeRow(node);
      else if (
        node.name === 'table:table-header-rows' ||
        node.name === 'table:table-row-group' ||
        node.name === 'table:table-rows'
      ) {
        walk(childElements(node));
      }
    }
  };
  walk(childElements(table));
  return out;
}

async function odsSheets(zip: JSZip, file: string, ctx: LoaderContext): Promise<SheetRows[]> {
  const xml = await requireZipText(zip, 'content.xml', ctx.limits.maxArchiveBytes, file);
  const $ = await loadXml(xml);
  const limit = ctx.limits.maxTextChars;
  const budget = { cells: MAX_CELLS, chars: { left: limit, limit } };
  return $('office\\:spreadsheet > table\\:table')
    .toArray()
    .map((table, i) =>
      nonEmptyRows(table.attribs['table:name'] ?? `Sheet${i + 1}`, odsTableRows(table, file, budget)),
    );
}

/** Spreadsheets: .xlsx (exceljs) and .ods; each sheet a table split into row groups. */
export class SpreadsheetLoader implements Loader {
  readonly type = 'xlsx' as const;

  async load(input: LoaderInput, ctx: LoaderContext): Promise<TextItemDraft[]> {
    const file = input.path;
    const zip = await openZipSafely(input.bytes, ctx.limits, file);
    const mimetype = await odfMimetype(zip, file);
    let sheets: SheetRows[];
    if (mimetype?.startsWith('application/vnd.oasis.opendocument.spreadsheet')) {
      sheets = await odsSheets(zip, file, ctx);
    } else if (zip.file('xl/workbook.xml')) {
      // exceljs inflates with its own unbounded zip reader: make sure the real sizes match the limits first.
      await verifyZipExpansion(zip, ctx.limits, file);
      sheets = await xlsxSheets(input.bytes, file, ctx.limits.maxTextChars);
    } else {
      throw new MmragError(
        `${file}: not a spreadsheet (no xl/workbook.xml${mimetype ? `; it is ${mimetype}` : ''})`,
        'Check that the file really is an .xlsx or .ods.',
        'bad_file',
      );
    }
    const title = basename(file);
    return sheets.flatMap((sheet) => sheetItems(sheet, title, ctx.chunkSize));
  }
}
