import { describe, expect, it } from 'vitest';
import { CsvLoader, sniffDelimiter } from '../../src/ingest/loaders/csv.js';
import { cellText, formatDate, nonEmptyRows, sheetItems } from '../../src/ingest/loaders/spreadsheet.js';
import { markdownCell, splitTable, tableToMarkdown, trimTable } from '../../src/ingest/tables.js';
import { testLoaderContext } from '../helpers/loader-context.js';

/** A small deterministic generator, so the exhaustive checks are reproducible. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('tableToMarkdown', () => {
  it('escapes pipes and backslashes, collapses newlines, pads short rows', () => {
    expect(tableToMarkdown(['a|b', 'c'], [['1\n2', 'x\\y'], ['only']])).toBe(
      ['| a\\|b | c |', '| --- | --- |', '| 1 2 | x\\\\y |', '| only |  |'].join('\n'),
    );
  });

  it('widens the header to the widest row', () => {
    expect(tableToMarkdown(['h'], [['1', '2', '3']]).split('\n')[0]).toBe('| h |  |  |');
  });

  it('gives one column for an empty table', () => {
    expect(tableToMarkdown([], [])).toBe('|  |\n| --- |');
  });

  it('markdownCell leaves no unescaped pipe and no line break', () => {
    const next = random(7);
    const alphabet = 'ab |\\\n\r\t';
    for (let n = 0; n < 500; n++) {
      const value = Array.from(
        { length: Math.floor(next() * 12) },
        () => alphabet[Math.floor(next() * alphabet.length)],
      ).join('');
      const cell = markdownCell(value);
      expect(cell).not.toMatch(/[\n\r]/);
      expect(cell.replace(/\\\\/g, '').replace(/\\\|/g, '')).not.toContain('|');
    }
  });
});

describe('splitTable', () => {
  const header = ['Id', 'Name'];
  const rows = Array.from({ length: 50 }, (_, i) => [String(i + 1), `name ${i + 1}`]);

  it('keeps a small table as one item covering all its data rows', () => {
    const groups = splitTable(header, rows.slice(0, 3), { maxChars: 1000, firstRow: 2 });
    expect(groups).toEqual([{ markdown: tableToMarkdown(header, rows.slice(0, 3)), rows: [2, 4] }]);
  });

  it('gives a header-only table the header row as its range', () => {
    expect(splitTable(header, [], { maxChars: 100, firstRow: 2 })).toEqual([
      { markdown: tableToMarkdown(header, []), rows: [1, 1] },
    ]);
  });

  it('splits large tables into groups that repeat the header and cover the rows exactly once', () => {
    const next = random(42);
    for (let trial = 0; trial < 200; trial++) {
      const count = 1 + Math.floor(next() * 80);
      const width = 1 + Math.floor(next() * 4);
      const table = Array.from({ length: count }, (_, r) =>
        Array.from({ length: width }, (_, c) => `r${r}c${c}${'x'.repeat(Math.floor(next() * 30))}`),
      );
      const head = Array.from({ length: width }, (_, c) => `h${c}`);
      const maxChars = 20 + Math.floor(next() * 400);
      const firstRow = 2 + Math.floor(next() * 5);
      const groups = splitTable(head, table, { maxChars, firstRow });
      const headLines = tableToMarkdown(head, []).split('\n');
      let expectedFirst = firstRow;
      const seen: string[] = [];
      for (const group of groups) {
        const lines = group.markdown.split('\n');
        expect(lines.slice(0, 2)).toEqual(headLines);
        const [first, last] = group.rows;
        expect(first).toBe(expectedFirst);
        expect(lines.length - 2).toBe(last - first + 1);
        // Within the limit, unless a single row alone is larger.
        if (last > first) expect(group.markdown.length).toBeLessThanOrEqual(maxChars);
        seen.push(...lines.slice(2));
        expectedFirst = last + 1;
      }
      expect(expectedFirst).toBe(firstRow + count);
      expect(seen).toEqual(tableToMarkdown(head, table).split('\n').slice(2));
      // Greedy: no group could have taken the next group's first row.
      for (let g = 0; g + 1 < groups.length; g++) {
        const nextRow = groups[g + 1]!.markdown.split('\n')[2]!;
        expect(groups[g]!.markdown.length + 1 + nextRow.length).toBeGreaterThan(maxChars);
      }
    }
  });

  it('uses explicit row numbers when rows were skipped', () => {
    const groups = splitTable(header, rows.slice(0, 4), {
      maxChars: 40,
      firstRow: 2,
      rowNumbers: [2, 5, 9, 10],
    });
    expect(groups.map((g) => g.rows)).toEqual([
      [2, 2],
      [5, 5],
      [9, 9],
      [10, 10],
    ]);
  });
});

describe('trimTable and nonEmptyRows', () => {
  it('drops trailing blank cells and rows', () => {
    expect(trimTable([['a', '', ' '], ['', ''], ['b'], [], ['']])).toEqual([['a'], [], ['b']]);
  });

  it('skips blank rows but keeps their numbering', () => {
    const sheet = nonEmptyRows('S', [
      { number: 3, cells: ['h1', 'h2'] },
      { number: 4, cells: ['', ''] },
      { number: 7, cells: ['x', ''] },
    ]);
    expect(sheet).toEqual({ name: 'S', rows: [['h1', 'h2'], ['x']], rowNumbers: [3, 7] });
    expect(sheetItems(sheet, 'book', 256)).toEqual([
      {
        modality: 'text',
        title: 'book',
        section: 'S',
        text: '| h1 | h2 |\n| --- | --- |\n| x |  |',
        location: { sheet: 'S', rows: [7, 7] },
      },
    ]);
  });
});

describe('cell values', () => {
  it('shows values as a spreadsheet displays them', () => {
    expect(cellText(0.1 + 0.2)).toBe('0.3');
    expect(cellText(42)).toBe('42');
    expect(cellText(true)).toBe('TRUE');
    expect(cellText(null)).toBe('');
    expect(cellText({ formula: 'A1+1', result: 2 })).toBe('2');
    expect(cellText({ formula: 'A1+1' })).toBe('=A1+1');
    expect(cellText({ sharedFormula: 'B2', result: new Date(Date.UTC(2020, 0, 2)) })).toBe('2020-01-02');
    expect(cellText({ richText: [{ text: 'a' }, { text: 'b' }] })).toBe('ab');
    expect(cellText({ text: 'site', hyperlink: 'https://example.com' })).toBe('site');
    expect(cellText({ error: '#DIV/0!' })).toBe('#DIV/0!');
    expect(formatDate(new Date(Date.UTC(2024, 1, 29, 8, 5, 1)))).toBe('2024-02-29T08:05:01Z');
  });
});

describe('delimited text', () => {
  it('sniffs the delimiter that splits lines consistently', () => {
    expect(sniffDelimiter('a,b,c\n1,2,3\n')).toBe(',');
    expect(sniffDelimiter('a;b;c\n1,5;2,5;3\n4;5;6\n')).toBe(';');
    expect(sniffDelimiter('a\tb\n"x,y,z"\t2\n')).toBe('\t');
    expect(sniffDelimiter('"q;q;q;q",b\n"r;r;r",c\n')).toBe(',');
    expect(sniffDelimiter('single column\nno delimiters\n', '\t')).toBe('\t');
  });

  it('decodes like every text file: UTF-8 without its BOM, UTF-16, real Windows-1252; refuses binary', async () => {
    const cells = async (bytes: number[]) => {
      const [item] = await new CsvLoader().load(
        { path: '/d/x.csv', bytes: new Uint8Array(bytes) },
        testLoaderContext(),
      );
      return item?.text ?? '';
    };
    const ascii = (text: string) => [...Buffer.from(text)];
    expect(await cells([0xef, 0xbb, 0xbf, ...ascii('name,price\nbread,1\n')])).toContain('| bread | 1 |');
    const utf16 = [0xff, 0xfe, ...[...Buffer.from('name;price\ntea;2\n', 'utf16le')]];
    expect(await cells(utf16)).toContain('| tea | 2 |');
    // 0x80 is the euro sign in Windows-1252 (Node's decoder of that name reads Latin-1: U+0080).
    expect(await cells([...ascii('item,cost\ncaf'), 0xe9, ...ascii(',5 '), 0x80, 0x0a])).toContain(
      '| café | 5 € |',
    );
    await expect(
      new CsvLoader().load(
        { path: '/d/x.csv', bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, 1, 2]) },
        testLoaderContext(),
      ),
    ).rejects.toThrow(/x\.csv: the file holds binary data/);
  });
});
