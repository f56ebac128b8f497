import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import type { LoaderContext } from '../../src/ingest/loader.js';
import { CsvLoader } from '../../src/ingest/loaders/csv.js';
import { DocxLoader, NO_CAPTION } from '../../src/ingest/loaders/docx.js';
import { NOTES_PREFIX, PptxLoader } from '../../src/ingest/loaders/pptx.js';
import { SpreadsheetLoader } from '../../src/ingest/loaders/spreadsheet.js';
import type { ItemDraft, TextItemDraft } from '../../src/types.js';
import { embeddedPictures, images, pagePictures, texts } from '../helpers/items.js';
import { testLoaderContext } from '../helpers/loader-context.js';
import {
  type CellValue,
  type DocxPart,
  makeCsv,
  makeDocx,
  makeDocxBomb,
  makeOdp,
  makeOds,
  makeOdt,
  makePptx,
  makeXlsx,
  type SlideSpec,
  shapePng,
} from '../helpers/make-office.js';

/** The one text item carrying `word` (fails when none or several do). */
function only(items: ItemDraft[], word: string): TextItemDraft {
  const found = texts(items).filter((i) => i.text.includes(word));
  expect(found, `items with "${word}"`).toHaveLength(1);
  return found[0]!;
}

async function loadError(promise: Promise<unknown>): Promise<MmragError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MmragError);
  return err as MmragError;
}

let dir: string;
let red: Uint8Array;
let blue: Uint8Array;
let green: Uint8Array;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mmrag-office-'));
  [red, blue, green] = await Promise.all([
    shapePng('circle', 'red'),
    shapePng('square', 'blue'),
    shapePng('circle', 'green'),
  ]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Write the fixture to the temp folder and load it back from disk, as the pipeline does. */
async function loadFile(
  name: string,
  bytes: Uint8Array,
  loader: { load: DocxLoader['load'] },
  ctx: LoaderContext = testLoaderContext(),
) {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return loader.load({ path, bytes: new Uint8Array(await readFile(path)) }, ctx);
}

function documentParts(): DocxPart[] {
  return [
    { kind: 'paragraph', text: 'Preface mentioning zanzibar before any heading.' },
    { kind: 'heading', text: 'Overview' },
    { kind: 'paragraph', text: 'The quokka is a small marsupial.' },
    { kind: 'paragraph', text: 'Short.' },
    {
      kind: 'table',
      rows: [
        ['Animal', 'Habitat'],
        ['wombat | burrower', 'Australia'],
        ['kiwi', 'New\nZealand'],
      ],
    },
    { kind: 'picture', png: red, alt: 'A red circle on white' },
    { kind: 'heading', text: 'Details' },
    { kind: 'paragraph', text: 'The numbat eats termites.' },
    { kind: 'picture', png: blue },
    { kind: 'paragraph', text: 'Figure 2: a blue square', style: 'Caption' },
    { kind: 'paragraph', text: 'An unrelated paragraph between pictures.' },
    { kind: 'picture', png: green },
    { kind: 'paragraph', text: 'Closing words about the bilby.' },
  ];
}

describe.each([
  ['report.docx', makeDocx],
  ['report.odt', makeOdt],
])('%s', (name, make) => {
  let items: ItemDraft[];
  beforeAll(async () => {
    items = await loadFile(name, await make(documentParts(), 'Field Guide'), new DocxLoader());
  });

  it('takes the title from the document properties and sections from headings', () => {
    for (const item of items) expect(item.title).toBe('Field Guide');
    expect(only(items, 'zanzibar').section).toBe('Field Guide');
    expect(only(items, 'quokka').section).toBe('Overview');
    expect(only(items, 'numbat').section).toBe('Details');
    expect(only(items, 'bilby').section).toBe('Details');
  });

  it('keeps short paragraphs by merging them into their section chunk', () => {
    expect(only(items, 'quokka').text).toContain('Short.');
  });

  it('renders the table as Markdown with escaped pipes and collapsed newlines', () => {
    const table = only(items, 'wombat');
    expect(table.section).toBe('Overview');
    expect(table.text).toBe(
      [
        '| Animal | Habitat |',
        '| --- | --- |',
        '| wombat \\| burrower | Australia |',
        '| kiwi | New Zealand |',
      ].join('\n'),
    );
  });

  it('makes image items captioned by alt text, a caption paragraph, or nothing', async () => {
    const pictures = images(items);
    expect(pictures.map((p) => [p.caption, p.section])).toEqual([
      ['A red circle on white', 'Overview'],
      ['Figure 2: a blue square', 'Details'],
      [NO_CAPTION, 'Details'],
    ]);
    expect(pictures.map((p) => p.picture.mime)).toEqual(['image/png', 'image/png', 'image/png']);
    expect(Buffer.from(pictures[0]!.picture.bytes).equals(Buffer.from(red))).toBe(true);
    expect(Buffer.from(pictures[1]!.picture.bytes).equals(Buffer.from(blue))).toBe(true);
  });
});

it('falls back to the file name as title', async () => {
  const items = await loadFile(
    'untitled.docx',
    await makeDocx([{ kind: 'paragraph', text: 'Just text here.' }]),
    new DocxLoader(),
  );
  expect(items.map((i) => i.title)).toEqual(['untitled.docx']);
});

describe.each([
  ['deck.pptx', makePptx],
  ['deck.odp', makeOdp],
])('%s', (name, make) => {
  let items: ItemDraft[];
  beforeAll(async () => {
    const slides: SlideSpec[] = [
      {
        title: 'Welcome',
        body: ['First point about the wombat', 'Second point'],
        notes: 'Remember the platypus joke',
      },
      {
        title: 'Results',
        body: ['Growth in the kangaroo sector'],
        picture: { png: red, alt: 'A red circle' },
      },
      { title: 'Thanks', body: [] },
    ];
    items = await loadFile(name, await make(slides), new PptxLoader());
  });

  it('puts each slide in its own section with its 1-based number, in presentation order', () => {
    expect(only(items, 'wombat')).toMatchObject({ section: 'Welcome', location: { slide: 1 } });
    expect(only(items, 'kangaroo')).toMatchObject({ section: 'Results', location: { slide: 2 } });
    expect(only(items, 'Thanks')).toMatchObject({ section: 'Thanks', location: { slide: 3 } });
  });

  it('joins the runs of a paragraph and keeps the paragraphs of a slide together', () => {
    expect(only(items, 'wombat').text).toBe('First point about the wombat Second point');
  });

  it('keeps speaker notes as text items of their slide', () => {
    const notes = only(items, 'platypus');
    expect(notes.text).toBe(`${NOTES_PREFIX}Remember the platypus joke`);
    expect(notes.location).toEqual({ slide: 1 });
  });

  it('makes the picture an image item of its slide with the alt text', () => {
    // Slides drawn whole (with LibreOffice installed) are page pictures of their own: all of them, or none.
    expect([[], [1, 2, 3]]).toContainEqual(pagePictures(items).map((p) => p.location?.slide));
    const pictures = embeddedPictures(items);
    expect(pictures).toHaveLength(1);
    expect(pictures[0]).toMatchObject({
      caption: 'A red circle',
      section: 'Results',
      location: { slide: 2 },
    });
    expect(Buffer.from(pictures[0]!.picture.bytes).equals(Buffer.from(red))).toBe(true);
  });
});

it('reads speaker notes that LibreOffice Impress writes in a plain text box, and not the notes-page furniture', async () => {
  const deck = await makePptx([
    {
      title: 'Harbour',
      body: ['The first slide'],
      notes: 'Mention the narwhal sighting',
      notesIn: 'textbox',
    },
  ]);
  const items = await loadFile('impress.pptx', deck, new PptxLoader());
  const notes = only(items, 'narwhal');
  expect(notes.text).toBe(`${NOTES_PREFIX}Mention the narwhal sighting`);
  expect(notes.location).toEqual({ slide: 1 });
  // The date and slide-number placeholders of the notes page are not notes.
  expect(items.some((i) => i.modality === 'text' && /2026-12-02|Speaker notes: .*\b1$/.test(i.text))).toBe(
    false,
  );
});

describe('spreadsheets', () => {
  const bigRows = (n: number): CellValue[][] => [
    ['Id', 'Product', 'Amount'],
    ...Array.from({ length: n }, (_, i): CellValue[] => [
      i + 1,
      i === 156 ? 'echidna' : `item ${i + 1}`,
      (i + 1) * 1.5,
    ]),
  ];

  it('reads an .xlsx: each sheet a table, displayed values, right sheet and rows', async () => {
    const bytes = await makeXlsx([
      { name: 'Sales', rows: bigRows(300) },
      {
        name: 'Notes',
        rows: [
          ['Key', 'Value', 'When'],
          ['sum', { formula: 'B3*2', result: 0.6 }, new Date(Date.UTC(2024, 2, 1))],
          ['float', 0.1 + 0.2, new Date(Date.UTC(2024, 2, 1, 13, 30))],
          [null, null, null],
          ['rich', { richText: [{ text: 'Bold' }, { text: 'Face' }] }, true],
          ['dingo', 'last', null],
        ],
      },
    ]);
    const items = await loadFile('book.xlsx', bytes, new SpreadsheetLoader());
    for (const item of items) expect(item.title).toBe('book.xlsx');

    const sales = texts(items).filter((i) => i.section === 'Sales');
    expect(sales.length).toBeGreaterThan(1);
    let next = 2;
    for (const item of sales) {
      expect(item.text.startsWith('| Id | Product | Amount |\n| --- | --- | --- |\n')).toBe(true);
      expect(item.text.length).toBeLessThanOrEqual(1024);
      const [first, last] = item.location!.rows!;
      expect(item.location!.sheet).toBe('Sales');
      expect(first).toBe(next);
      // Row r of the sheet holds id r - 1: the range names exactly the rows in the item.
      expect(item.text).toContain(`| ${first - 1} |`);
      expect(item.text).toContain(`| ${last - 1} |`);
      expect(item.text).not.toContain(`| ${last} | item`);
      next = last + 1;
    }
    expect(next).toBe(302);
    const echidna = only(items, 'echidna');
    const [from, to] = echidna.location!.rows!;
    expect(from).toBeLessThanOrEqual(158);
    expect(to).toBeGreaterThanOrEqual(158);

    const notes = only(items, 'dingo');
    expect(notes.location).toEqual({ sheet: 'Notes', rows: [2, 6] });
    expect(notes.text).toBe(
      [
        '| Key | Value | When |',
        '| --- | --- | --- |',
        '| sum | 0.6 | 2024-03-01 |',
        '| float | 0.3 | 2024-03-01T13:30:00Z |',
        '| rich | BoldFace | TRUE |',
        '| dingo | last |  |',
      ].join('\n'),
    );
  });

  it('reads an .ods with repeated rows and columns expanded only where they hold data', async () => {
    const bytes = await makeOds([
      {
        name: 'Stock',
        rows: [['Item', 'Count'], { repeat: 3, cells: ['bolt', '5'] }, [], ['gecko', '1']],
        trailingEmptyRows: 1_048_000,
      },
      { name: 'Other', rows: [['Only', 'Header']] },
    ]);
    const items = await loadFile('stock.ods', bytes, new SpreadsheetLoader());
    const gecko = only(items, 'gecko');
    expect(gecko.location).toEqual({ sheet: 'Stock', rows: [2, 6] });
    expect(gecko.text.split('\n').filter((l) => l === '| bolt | 5 |')).toHaveLength(3);
    expect(gecko.text.split('\n')[0]).toBe('| Item | Count |');
    expect(only(items, 'Only').location).toEqual({ sheet: 'Other', rows: [1, 1] });
  });

  it('refuses an .ods whose repeated rows would expand past the cell budget', async () => {
    const bytes = await makeOds([
      { name: 'Bomb', rows: [['a', 'b'], { repeat: 1_000_000, cells: ['x', 'y', 'z', 'w', 'v', 'u'] }] },
    ]);
    const err = await loadError(loadFile('bomb.ods', bytes, new SpreadsheetLoader()));
    expect(err.message).toMatch(/bomb\.ods: refused: the spreadsheet expands to more than 5000000 cells/);
  });
});

describe('csv', () => {
  it('sniffs semicolons, drops the BOM, keeps quoted separators and numbers rows like a spreadsheet', async () => {
    const bytes = makeCsv(
      [['Name', 'Note'], ['alpha', 'x;y'], [], ['beta', 'two\nlines'], ['gamma', 'tarsier'], ['ragged']],
      ';',
      true,
    );
    const items = await loadFile('data.csv', bytes, new CsvLoader());
    const item = only(items, 'tarsier');
    expect(item).toMatchObject({
      title: 'data.csv',
      section: 'data.csv',
      location: { sheet: 'data.csv', rows: [2, 6] },
    });
    expect(item.text).toBe(
      [
        '| Name | Note |',
        '| --- | --- |',
        '| alpha | x;y |',
        '| beta | two lines |',
        '| gamma | tarsier |',
        '| ragged |  |',
      ].join('\n'),
    );
  });

  it('reads a .tsv', async () => {
    const items = await loadFile(
      'data.tsv',
      makeCsv(
        [
          ['a', 'b'],
          ['okapi', '1,5'],
        ],
        '\t',
      ),
      new CsvLoader(),
    );
    expect(only(items, 'okapi').text).toContain('| okapi | 1,5 |');
  });

  it('refuses binary data named .csv', async () => {
    const err = await loadError(loadFile('bin.csv', new Uint8Array([1, 2, 0, 3, 4]), new CsvLoader()));
    expect(err.message).toMatch(/bin\.csv: the file holds binary data/);
  });
});

describe('bad and hostile files', () => {
  it('refuses a zip bomb declaring 2 GiB before inflating anything', async () => {
    const bomb = await makeDocxBomb(2048, 'truth');
    expect(bomb.length).toBeLessThan(4 * 1024 * 1024);
    const err = await loadError(loadFile('bomb.docx', bomb, new DocxLoader()));
    expect(err.message).toMatch(
      /bomb\.docx: refused: .*word\/document\.xml expands \d+ times .* to 2\.0 GiB/,
    );
    expect(err.code).toBe('too_large');
    expect(err.hint).toMatch(/maxArchiveBytes/);
  });

  it('refuses a 2 GiB zip bomb by its total size too when the ratio limit is lax', async () => {
    const bomb = await makeDocxBomb(2048, 'truth');
    const err = await loadError(
      loadFile(
        'bomb.docx',
        bomb,
        new DocxLoader(),
        testLoaderContext({ limits: { maxArchiveRatio: 1e9, maxArchiveBytes: 64 * 1024 * 1024 } }),
      ),
    );
    expect(err.message).toMatch(/bomb\.docx: refused: it expands to 2\.0 GiB, over the limit of 64\.0 MiB/);
  });

  it('refuses a bomb whose headers lie about its size while inflating, at the limit', async () => {
    const bomb = await makeDocxBomb(64, 'lie');
    const err = await loadError(
      loadFile(
        'liar.docx',
        bomb,
        new DocxLoader(),
        testLoaderContext({ limits: { maxArchiveBytes: 8 * 1024 * 1024 } }),
      ),
    );
    expect(err.message).toMatch(
      /liar\.docx: refused: it expands past 8\.0 MiB .*word\/document\.xml is larger than declared/,
    );
  });

  it('refuses a truncated .docx with a clear reason', async () => {
    const whole = await makeDocx(documentParts(), 'Field Guide');
    const err = await loadError(
      loadFile('cut.docx', whole.subarray(0, Math.floor(whole.length / 2)), new DocxLoader()),
    );
    expect(err.message).toMatch(/cut\.docx: cannot open as a zip-based office file: .*truncated/);
  });

  it('refuses a binary file named .docx, and a zip that is not a Word document', async () => {
    const noise = new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251);
    const err = await loadError(loadFile('noise.docx', noise, new DocxLoader()));
    expect(err.message).toMatch(/noise\.docx: cannot open as a zip-based office file/);
    const deck = await makePptx([{ title: 'Hi', body: ['there'] }]);
    const wrong = await loadError(loadFile('deck-named.docx', deck, new DocxLoader()));
    expect(wrong.message).toMatch(/deck-named\.docx: not a Word document/);
  });

  it('refuses legacy and password-protected Office files by their signature', async () => {
    const cfb = new Uint8Array(1024);
    cfb.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
    const err = await loadError(loadFile('old.xlsx', cfb, new SpreadsheetLoader()));
    expect(err.message).toMatch(/old\.xlsx: .*legacy .* or password-protected/);
  });

  it('skips a picture over the image limit with a warning and keeps the rest', async () => {
    const ctx = testLoaderContext({ limits: { maxImageBytes: 100 } });
    const bytes = await makeDocx([
      { kind: 'paragraph', text: 'Text that stays.' },
      { kind: 'picture', png: red, alt: 'too big' },
    ]);
    const items = await loadFile('big-picture.docx', bytes, new DocxLoader(), ctx);
    expect(images(items)).toHaveLength(0);
    expect(only(items, 'stays')).toBeDefined();
    expect(ctx.warnings.join('\n')).toMatch(
      /big-picture\.docx .*picture skipped: .*over ingest\.maxImageBytes/,
    );
  });
});

describe('throughput (reported, not asserted)', () => {
  it('measures spreadsheet rows/s and docx pages/s', async () => {
    const rows = 10_000;
    const xlsx = await makeXlsx([{ name: 'Big', rows: bigTable(rows) }]);
    let start = performance.now();
    const sheetItems = await loadFile('big.xlsx', xlsx, new SpreadsheetLoader());
    const xlsxSeconds = (performance.now() - start) / 1000;
    expect(sheetItems.at(-1)!.location!.rows![1]).toBe(rows + 1);

    const csv = makeCsv(bigTable(rows).map((r) => r.map(String)));
    start = performance.now();
    const csvItems = await loadFile('big.csv', csv, new CsvLoader());
    const csvSeconds = (performance.now() - start) / 1000;
    expect(csvItems.at(-1)!.location!.rows![1]).toBe(rows + 1);

    // ~3,000 characters is one printed page; 100 pages of headings, paragraphs and a table each.
    const pages = 100;
    const parts: DocxPart[] = [];
    for (let p = 0; p < pages; p++) {
      parts.push({ kind: 'heading', text: `Chapter ${p + 1}` });
      for (let k = 0; k < 5; k++)
        parts.push({
          kind: 'paragraph',
          text: `Page ${p + 1} paragraph ${k + 1}. ${'lorem ipsum dolor sit amet '.repeat(20)}`,
        });
      parts.push({
        kind: 'table',
        rows: [
          ['a', 'b'],
          [`p${p}`, 'x'],
        ],
      });
    }
    const docx = await makeDocx(parts);
    start = performance.now();
    const docItems = await loadFile('big.docx', docx, new DocxLoader());
    const docxSeconds = (performance.now() - start) / 1000;
    expect(new Set(docItems.map((i) => i.section)).size).toBe(pages);

    console.log(
      `throughput: xlsx ${Math.round(rows / xlsxSeconds)} rows/s (${rows} rows in ${xlsxSeconds.toFixed(2)} s); ` +
        `csv ${Math.round(rows / csvSeconds)} rows/s; docx ${Math.round(pages / docxSeconds)} pages/s ` +
        `(${pages} pages, ${docx.length} bytes, in ${docxSeconds.toFixed(2)} s)`,
    );
  });
});

function bigTable(rows: number): CellValue[][] {
  return [
    ['Id', 'Region', 'Product', 'Amount'],
    ...Array.from({ length: rows }, (_, i): CellValue[] => [
      i + 1,
      ['north', 'south', 'east', 'west'][i % 4]!,
      `product ${i % 97}`,
      i * 2.5,
    ]),
  ];
}
