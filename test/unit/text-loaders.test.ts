import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  flattenJson,
  JsonLoader,
  jsonNesting,
  keyPath,
  MAX_JSON_DEPTH,
  packJsonLines,
} from '../../src/ingest/loaders/json.js';
import {
  CODE_EXTENSIONS,
  chunkLines,
  layoutOf,
  packBlocks,
  splitRstSections,
  TEXT_EXTENSIONS,
  TextLoader,
} from '../../src/ingest/loaders/text.js';
import { rejection as failure, texts } from '../helpers/items.js';
import { testLoaderContext } from '../helpers/loader-context.js';

const encode = (text: string) => new TextEncoder().encode(text);

/** A small Python module: functions separated by blank lines. */
function pythonSource(functions: number): string {
  const parts: string[] = [];
  for (let f = 0; f < functions; f++) {
    parts.push(
      [
        `def handler_${f}(request):`,
        `    """Handle request number ${f}."""`,
        `    value = compute(request, ${f})`,
        '    return value * 2',
      ].join('\n'),
    );
  }
  return `${parts.join('\n\n')}\n`;
}

describe('chunkLines', () => {
  it('never cuts a line, stays within the size and covers every line', () => {
    const source = pythonSource(12);
    const chunks = chunkLines(source, 200, 0.25);
    const sourceLines = new Set(source.split('\n'));
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(200);
      for (const line of chunk.split('\n')) expect(sourceLines.has(line)).toBe(true);
    }
    const covered = new Set(chunks.flatMap((c) => c.split('\n')));
    for (const line of source.split('\n')) if (line) expect(covered.has(line)).toBe(true);
  });

  it('prefers blank lines: each function stays whole when two fit in a chunk', () => {
    const chunks = chunkLines(pythonSource(6), 260, 0.25);
    for (const chunk of chunks) {
      expect(chunk.startsWith('def handler_')).toBe(true);
      expect(chunk.endsWith('return value * 2')).toBe(true);
    }
  });

  it('repeats the last lines as overlap when it must cut at a plain line end', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line number ${String(i).padStart(2, '0')}`);
    const chunks = chunkLines(lines.join('\n'), 100, 0.25);
    expect(chunks.length).toBeGreaterThan(1);
    for (let i = 1; i < chunks.length; i++) {
      const previousLast = chunks[i - 1]!.split('\n').at(-1)!;
      expect(chunks[i]!.split('\n')).toContain(previousLast);
    }
    const noOverlap = chunkLines(lines.join('\n'), 100, 0);
    expect(noOverlap.join('\n')).toBe(lines.join('\n'));
  });

  it('splits a line longer than the size at spaces', () => {
    const long = 'word '.repeat(100).trim();
    const chunks = chunkLines(`short\n${long}\nend`, 60, 0);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(60);
    expect(
      chunks
        .join(' ')
        .split(/\s+/)
        .filter((w) => w === 'word'),
    ).toHaveLength(100);
  });
});

describe('packBlocks', () => {
  it('merges short paragraphs up to the size and cuts long ones alone', () => {
    const long = 'Lorem ipsum dolor sit amet consectetur. '.repeat(10);
    const out = packBlocks(
      [
        { text: 'First short paragraph.', kind: 'prose' },
        { text: 'Second\nshort   paragraph.', kind: 'prose' },
        { text: long, kind: 'prose' },
        { text: 'Tail.', kind: 'prose' },
      ],
      120,
      0.25,
      30,
    );
    expect(out[0]).toBe('First short paragraph.\n\nSecond short paragraph.');
    for (const chunk of out) expect(chunk.length).toBeLessThanOrEqual(120);
    expect(out.at(-1)).toContain('Tail.');
  });

  it('cuts a lead-in shorter than minLength together with the long block after it', () => {
    const code = Array.from({ length: 20 }, (_, i) => `print(${i})`).join('\n');
    const out = packBlocks(
      [
        { text: 'Example:', kind: 'prose' },
        { text: code, kind: 'lines' },
      ],
      80,
      0,
      30,
    );
    expect(out[0]!.startsWith('Example:\n\nprint(0)')).toBe(true);
  });
});

describe('TextLoader', () => {
  it('exports the extension sets for type detection', () => {
    expect(TEXT_EXTENSIONS.has('.txt')).toBe(true);
    expect(TEXT_EXTENSIONS.has('.rst')).toBe(true);
    for (const ext of ['.ts', '.py', '.go', '.rs', '.java', '.c', '.sql', '.yaml', '.toml', '.ini']) {
      expect(CODE_EXTENSIONS.has(ext)).toBe(true);
    }
    expect(layoutOf('/x/Makefile')).toBe('lines');
    expect(layoutOf('/x/app.log')).toBe('lines');
    expect(layoutOf('/x/notes.txt')).toBe('prose');
  });

  it('chunks source code with the file name as title and section', async () => {
    const source = pythonSource(10);
    const items = await new TextLoader().load(
      { path: '/repo/src/handlers.py', bytes: encode(source) },
      testLoaderContext(),
    );
    expect(items.length).toBeGreaterThan(1);
    for (const item of texts(items)) {
      expect(item.title).toBe('handlers.py');
      expect(item.section).toBe('handlers.py');
      expect(item.text.length).toBeLessThanOrEqual(256);
      expect(item.text.startsWith('def handler_')).toBe(true);
    }
    const all = texts(items)
      .map((i) => i.text)
      .join('\n');
    for (let f = 0; f < 10; f++) expect(all).toContain(`def handler_${f}(request):`);
  });

  it('reads a Latin-1 text file as paragraphs, keeping short ones', async () => {
    const text = 'Le café est fermé.\r\n\r\nIl ouvre demain à huit heures, après la livraison du pain.\r\n';
    const items = await new TextLoader().load(
      { path: '/docs/avis.txt', bytes: new Uint8Array(Buffer.from(text, 'latin1')) },
      testLoaderContext(),
    );
    expect(texts(items)).toEqual([
      {
        modality: 'text',
        title: 'avis.txt',
        section: 'avis.txt',
        text: 'Le café est fermé.\n\nIl ouvre demain à huit heures, après la livraison du pain.',
      },
    ]);
  });

  it('refuses a binary file named .txt clearly', async () => {
    const bytes = new Uint8Array(gzipSync(Buffer.from('data '.repeat(200))));
    const error = await failure(
      new TextLoader().load({ path: '/docs/archive.txt', bytes }, testLoaderContext()),
    );
    expect(error.message).toContain('/docs/archive.txt');
    expect(error.message).toContain('binary');
  });

  it('uses reStructuredText titles as sections', async () => {
    const rst = 'Guide\n=====\n\nIntro text of the guide.\n\nInstall\n-------\n\nRun pip install.\n';
    expect(splitRstSections(rst, 'f.rst').map((s) => s.section)).toEqual(['Guide', 'Install']);
    const items = await new TextLoader().load(
      { path: '/d/guide.rst', bytes: encode(rst) },
      testLoaderContext(),
    );
    expect(texts(items).map((i) => [i.section, i.text])).toEqual([
      ['Guide', 'Intro text of the guide.'],
      ['Install', 'Run pip install.'],
    ]);
  });
});

describe('JSON flattening', () => {
  it('writes readable key paths in document order', () => {
    const lines = flattenJson(
      {
        user: { name: 'Ada', address: { city: 'Paris' } },
        items: [{ name: 'pen' }, { name: 'ink' }],
        'odd key': true,
        e: [],
      },
      '',
    );
    expect(lines.map((l) => `${l.path}: ${l.value}`)).toEqual([
      'user.name: Ada',
      'user.address.city: Paris',
      'items[0].name: pen',
      'items[1].name: ink',
      '["odd key"]: true',
      'e: []',
    ]);
    expect(keyPath('a', 'b c')).toBe('a["b c"]');
    expect(keyPath('a', 3)).toBe('a[3]');
  });

  it('measures nesting outside strings without recursion', () => {
    expect(jsonNesting('{"a":[1,{"b":"[[[["}]}')).toBe(3);
    expect(jsonNesting('"\\"[["')).toBe(0);
    expect(jsonNesting('['.repeat(100_000) + ']'.repeat(100_000))).toBe(100_000);
  });

  it('stops at the limits and says so', () => {
    const state = { values: 0, chars: 0, truncated: false };
    const lines = flattenJson(
      Array.from({ length: 50 }, (_, i) => i),
      '',
      { maxValues: 10, maxChars: 1e6 },
      state,
    );
    expect(lines).toHaveLength(10);
    expect(state.truncated).toBe(true);
  });

  it('splits an overlong value with its path repeated', () => {
    const chunks = packJsonLines([{ path: 'doc.body', value: 'alpha beta gamma '.repeat(30).trim() }], 100);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      expect(chunk.startsWith('doc.body: ')).toBe(true);
      expect(chunk.length).toBeLessThanOrEqual(100);
    }
  });
});

describe('JsonLoader', () => {
  it('groups key paths by top-level key', async () => {
    const doc = {
      user: { name: 'Ada Lovelace', address: { city: 'Paris', zip: '75001' } },
      orders: Array.from({ length: 30 }, (_, i) => ({ id: i, product: `widget-${i}` })),
    };
    const ctx = testLoaderContext({ chunkSize: 200 });
    const items = texts(
      await new JsonLoader().load({ path: '/d/data.json', bytes: encode(JSON.stringify(doc)) }, ctx),
    );
    expect(items[0]).toEqual({
      modality: 'text',
      title: 'data.json',
      section: 'user',
      text: 'user.name: Ada Lovelace\nuser.address.city: Paris\nuser.address.zip: 75001',
    });
    const orders = items.filter((i) => i.section === 'orders');
    expect(orders.length).toBeGreaterThan(1);
    for (const item of orders) expect(item.text.length).toBeLessThanOrEqual(200);
    expect(orders.map((i) => i.text).join('\n')).toContain('orders[29].product: widget-29');
  });

  it('gives each JSONL line its own section and skips bad lines with a warning', async () => {
    const jsonl = '{"event":"login","who":"ada"}\n\nnot json at all\n{"event":"logout","who":"bob"}\n';
    const ctx = testLoaderContext();
    const items = texts(await new JsonLoader().load({ path: '/d/events.jsonl', bytes: encode(jsonl) }, ctx));
    expect(items.map((i) => [i.section, i.text])).toEqual([
      ['line 1', 'event: login\nwho: ada'],
      ['line 4', 'event: logout\nwho: bob'],
    ]);
    expect(ctx.warnings).toHaveLength(1);
    expect(ctx.warnings[0]).toContain('/d/events.jsonl: line 3');
  });

  it('reads a .json file that is really JSON Lines', async () => {
    const items = texts(
      await new JsonLoader().load(
        { path: '/d/x.json', bytes: encode('{"a":1}\n{"a":2}\n') },
        testLoaderContext(),
      ),
    );
    expect(items.map((i) => [i.section, i.text])).toEqual([
      ['line 1', 'a: 1'],
      ['line 2', 'a: 2'],
    ]);
  });

  it('fails clearly, without crashing, on 100 000 levels of nesting', async () => {
    for (const deep of [
      '['.repeat(100_000) + ']'.repeat(100_000),
      `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`,
    ]) {
      const error = await failure(
        new JsonLoader().load({ path: '/d/deep.json', bytes: encode(deep) }, testLoaderContext()),
      );
      expect(error.code).toBe('too_deep');
      expect(error.message).toContain('/d/deep.json');
      expect(error.message).toContain(String(MAX_JSON_DEPTH));
    }
  });

  it('fails clearly on invalid JSON', async () => {
    const error = await failure(
      new JsonLoader().load({ path: '/d/broken.json', bytes: encode('{"a": [1, 2,}') }, testLoaderContext()),
    );
    expect(error.code).toBe('bad_json');
    expect(error.message).toMatch(/\/d\/broken\.json: not valid JSON/);
  });

  it('keeps the first values of a huge document and warns', async () => {
    const ctx = testLoaderContext();
    const loader = new JsonLoader({ maxValues: 100, maxChars: 1e6 });
    const bytes = encode(JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ n: i }))));
    const items = texts(await loader.load({ path: '/d/big.json', bytes }, ctx));
    expect(
      items
        .map((i) => i.text)
        .join('\n')
        .split('\n'),
    ).toHaveLength(100);
    expect(ctx.warnings[0]).toMatch(/only the first 100 values/);
  });
});
