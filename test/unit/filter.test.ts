import { describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import {
  matchesWhere,
  parseIngestDate,
  parseTimeSeconds,
  parseWhere,
  sourceMatches,
  type WhereSubject,
} from '../../src/retrieve/filter.js';

const DAY = 86_400_000;
const may1 = Date.UTC(2024, 4, 1);

const pdfPage: WhereSubject = {
  modality: 'text',
  type: 'pdf',
  source: '/home/me/docs/Annual Report.pdf',
  title: 'Annual report 2023',
  section: 'Rock and roll revenue',
  location: { page: 4 },
  ingestedAt: may1 + 10 * 3600_000,
};
const videoFrame: WhereSubject = {
  modality: 'image',
  type: 'video',
  source: '/media/talk.mp4',
  title: 'Conference talk',
  section: '',
  location: { start: 95, end: 100 },
  ingestedAt: may1 + DAY + 60_000,
};
const sheetRows: WhereSubject = {
  modality: 'text',
  type: 'xlsx',
  source: 'https://example.org/files/budget.xlsx',
  title: 'Budget',
  section: 'Q1',
  location: { sheet: 'Costs', rows: [1, 20] },
};
const page: WhereSubject = {
  modality: 'image',
  type: 'html',
  source: '/site/kite-festival.html',
  title: 'Kite festival',
  section: 'The winning kite',
  ingestedAt: may1 - 1,
};
const all = [pdfPage, videoFrame, sheetRows, page];

function matching(expr: string): WhereSubject[] {
  const filter = parseWhere(expr);
  return all.filter((item) => matchesWhere(item, filter));
}

function usageError(expr: string): MmragError {
  try {
    parseWhere(expr);
  } catch (err) {
    expect(err).toBeInstanceOf(MmragError);
    expect((err as MmragError).code).toBe('usage');
    expect((err as MmragError).hint).toContain('Fields: source, type, section, title, modality, page');
    expect((err as MmragError).hint).toContain('Operators: = != ~ > >= < <= in');
    return err as MmragError;
  }
  throw new Error(`"${expr}" parsed without an error`);
}

describe('parseWhere: syntax', () => {
  it('parses clauses joined by "and" (any case) or ",", with bare and quoted values', () => {
    const filter = parseWhere(`type = pdf AND page >= 3, section ~ 'rock and roll' and title != "x, y"`);
    expect(filter.expr).toContain('AND');
    expect(filter.clauses).toEqual([
      { field: 'type', op: '=', values: ['pdf'] },
      { field: 'page', op: '>=', values: [{ lo: 3, hi: 3 }] },
      { field: 'section', op: '~', values: ['rock and roll'] },
      { field: 'title', op: '!=', values: ['x, y'] },
    ]);
  });

  it('bare values run to the next "," or " and " and may hold spaces; field names ignore case', () => {
    expect(parseWhere('Section = Warning signs and page=2').clauses).toEqual([
      { field: 'section', op: '=', values: ['Warning signs'] },
      { field: 'page', op: '=', values: [{ lo: 2, hi: 2 }] },
    ]);
    // "andes" is not the word "and".
    expect(parseWhere('title ~ andes trip').clauses[0]).toEqual({
      field: 'title',
      op: '~',
      values: ['andes trip'],
    });
  });

  it('parses "in (...)" lists with bare and quoted items, and == as =', () => {
    expect(parseWhere("type in (pdf, DOCX,'pptx') and page in(1,2)").clauses).toEqual([
      { field: 'type', op: 'in', values: ['pdf', 'docx', 'pptx'] },
      {
        field: 'page',
        op: 'in',
        values: [
          { lo: 1, hi: 1 },
          { lo: 2, hi: 2 },
        ],
      },
    ]);
    expect(parseWhere('page == 3').clauses[0]!.op).toBe('=');
  });

  it('reads times in seconds, m:ss and h:mm:ss, and dates as whole UTC days', () => {
    expect(parseWhere('start >= 1:30, end < 1:02:03.5, start > 12.5').clauses.map((c) => c.values)).toEqual([
      [{ lo: 90, hi: 90 }],
      [{ lo: 3723.5, hi: 3723.5 }],
      [{ lo: 12.5, hi: 12.5 }],
    ]);
    expect(parseWhere('ingested >= 2024-05-01').clauses[0]!.values).toEqual([{ lo: may1, hi: may1 + DAY }]);
    expect(parseWhere('ingested < "2024-05-01T10:00"').clauses[0]!.values).toEqual([
      { lo: may1 + 10 * 3600_000, hi: may1 + 10 * 3600_000 },
    ]);
  });

  it('names the bad part and lists fields and operators in every error', () => {
    expect(usageError('').message).toContain('empty');
    expect(usageError('colour = red').message).toContain('Unknown field "colour"');
    expect(usageError('page 3').message).toContain('Expected an operator after "page"');
    expect(usageError('page >').message).toContain('Missing a value after "page >"');
    expect(usageError('page = three').message).toContain('page must be a whole number, got "three"');
    expect(usageError('start > 1:75').message).toContain('start must be a time');
    expect(usageError('ingested > 2024-02-30').message).toContain('ingested must be an ISO date');
    expect(usageError('ingested > yesterday').message).toContain('"yesterday"');
    expect(usageError('type = pfd').message).toContain('unknown type "pfd"');
    expect(usageError('modality = audio').message).toContain('modality is text or image');
    expect(usageError('title > b').message).toContain('> compares numbers; title is text');
    expect(usageError('page ~ 3').message).toContain('~ (contains) is for text fields');
    expect(usageError('type in pdf').message).toContain('Expected "(" after "in"');
    expect(usageError('type in (pdf, )').message).toContain('Missing a value in the list');
    expect(usageError('type in (pdf docx').message).toContain('Expected "," or ")"');
    expect(usageError("title = 'open").message).toContain("Unclosed '");
    expect(usageError('page = 1 and').message).toContain('dangling');
    expect(usageError('page = 1,').message).toContain('dangling');
    expect(usageError("title = 'a' page = 2").message).toContain('Unexpected "page = 2"');
    expect(usageError('= 3').message).toContain('Expected a field name');
  });
});

describe('matchesWhere', () => {
  it('source = matches the whole source or its trailing path segments, case-sensitively', () => {
    expect(matching('source = kite-festival.html')).toEqual([page]);
    expect(matching('source = site/kite-festival.html')).toEqual([page]);
    expect(matching('source = festival.html')).toEqual([]);
    expect(matching('source = Kite-festival.html')).toEqual([]);
    expect(matching('source = "Annual Report.pdf"')).toEqual([pdfPage]);
    expect(matching('source = budget.xlsx')).toEqual([sheetRows]);
    expect(matching('source = /media/talk.mp4')).toEqual([videoFrame]);
    expect(matching('source != kite-festival.html')).toEqual([pdfPage, videoFrame, sheetRows]);
    expect(matching('source ~ REPORT')).toEqual([pdfPage]);
  });

  it('type, modality, title, section and sheet: = ignores case, ~ is a substring, in is any of', () => {
    expect(matching('type = PDF')).toEqual([pdfPage]);
    expect(matching('type in (pdf, html)')).toEqual([pdfPage, page]);
    expect(matching('type != pdf')).toEqual([videoFrame, sheetRows, page]);
    expect(matching('modality = image')).toEqual([videoFrame, page]);
    expect(matching('title = budget')).toEqual([sheetRows]);
    expect(matching('title ~ kite')).toEqual([page]);
    expect(matching("section ~ 'rock and roll'")).toEqual([pdfPage]);
    expect(matching('section = ""')).toEqual([videoFrame]);
    expect(matching('sheet = costs')).toEqual([sheetRows]);
    expect(matching('sheet in (Costs, Income)')).toEqual([sheetRows]);
  });

  it('an item without the field fails every clause on it except !=', () => {
    expect(matching('page >= 1')).toEqual([pdfPage]);
    expect(matching('page != 4')).toEqual([videoFrame, sheetRows, page]);
    expect(matching('sheet != Costs')).toEqual([pdfPage, videoFrame, page]);
    expect(matching('sheet ~ o')).toEqual([sheetRows]);
    expect(matching('slide = 1')).toEqual([]);
    expect(matching('slide != 1')).toEqual(all);
    expect(matching('ingested >= 2000-01-01')).toEqual([pdfPage, videoFrame, page]);
    expect(matching('ingested != 2024-05-01')).toEqual([videoFrame, sheetRows, page]);
  });

  it('compares pages and times at their boundaries', () => {
    expect(matching('page = 4')).toEqual([pdfPage]);
    expect(matching('page > 4')).toEqual([]);
    expect(matching('page >= 4, page <= 4')).toEqual([pdfPage]);
    expect(matching('page < 4')).toEqual([]);
    expect(matching('page in (3, 4)')).toEqual([pdfPage]);
    expect(matching('start >= 1:35')).toEqual([videoFrame]);
    expect(matching('start > 1:35')).toEqual([]);
    expect(matching('start >= 1:00 and end <= 100')).toEqual([videoFrame]);
    expect(matching('end < 100')).toEqual([]);
    expect(matching('start = 95')).toEqual([videoFrame]);
  });

  it('compares ingest dates as whole UTC days, date-times as instants', () => {
    // pdfPage: 2024-05-01 10:00Z; videoFrame: 2024-05-02 00:01Z; page: 2024-04-30 23:59:59.999Z
    expect(matching('ingested = 2024-05-01')).toEqual([pdfPage]);
    expect(matching('ingested > 2024-05-01')).toEqual([videoFrame]);
    expect(matching('ingested >= 2024-05-01')).toEqual([pdfPage, videoFrame]);
    expect(matching('ingested < 2024-05-01')).toEqual([page]);
    expect(matching('ingested <= 2024-05-01')).toEqual([pdfPage, page]);
    expect(matching('ingested >= 2024-05-01T10:00:00Z')).toEqual([pdfPage, videoFrame]);
    expect(matching('ingested > 2024-05-01T10:00')).toEqual([videoFrame]);
    expect(matching('ingested <= 2024-05-01T12:00+02:00')).toEqual([pdfPage, page]);
    expect(matching('ingested < 2024-05-01T12:00+02:00')).toEqual([page]);
  });

  it('needs every clause to match', () => {
    expect(matching('modality = image and type = video and start >= 90')).toEqual([videoFrame]);
    expect(matching('modality = image, type = pdf')).toEqual([]);
  });
});

describe('helpers', () => {
  it('sourceMatches: equal, or a suffix on a path boundary (/ or \\), ignoring a leading ./', () => {
    expect(sourceMatches('/a/b/kite.html', 'kite.html')).toBe(true);
    expect(sourceMatches('/a/b/kite.html', './kite.html')).toBe(true);
    expect(sourceMatches('/a/b/kite.html', 'b/kite.html')).toBe(true);
    expect(sourceMatches('/a/b/kite.html', '/b/kite.html')).toBe(true);
    expect(sourceMatches('/a/b/bigkite.html', 'kite.html')).toBe(false);
    expect(sourceMatches('C:\\docs\\kite.html', 'kite.html')).toBe(true);
    expect(sourceMatches('https://x.org/p/kite.html', 'kite.html')).toBe(true);
    expect(sourceMatches('kite.html', 'kite.html')).toBe(true);
    expect(sourceMatches('/a/b/kite.html', '')).toBe(false);
  });

  it('parseTimeSeconds and parseIngestDate reject what they cannot read', () => {
    expect(parseTimeSeconds('0:05')).toBe(5);
    expect(parseTimeSeconds('10:00:00')).toBe(36000);
    expect(parseTimeSeconds('1:5')).toBeUndefined();
    expect(parseTimeSeconds('-3')).toBeUndefined();
    expect(parseTimeSeconds('1:60:00')).toBeUndefined();
    expect(parseIngestDate('2024-13-01')).toBeUndefined();
    expect(parseIngestDate('2024-02-29')).toEqual({ lo: Date.UTC(2024, 1, 29), hi: Date.UTC(2024, 2, 1) });
    expect(parseIngestDate('2023-02-29')).toBeUndefined();
    expect(parseIngestDate('2024-05-01 10:00:00.5Z')).toEqual({ lo: may1 + 36000_500, hi: may1 + 36000_500 });
  });
});
