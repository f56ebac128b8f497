import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkText } from '../../src/ingest/chunk.js';
import { decodeHtmlBytes, HtmlLoader, imageRef, NO_CAPTION } from '../../src/ingest/loaders/html.js';
import type { ItemDraft } from '../../src/types.js';
import { images, texts } from '../helpers/items.js';
import { testLoaderContext } from '../helpers/loader-context.js';

let dir: string;
let redPng: Buffer;
let bluePng: Buffer;

async function loadPage(
  name: string,
  html: string | Uint8Array,
  ctx = testLoaderContext(),
): Promise<{ items: ItemDraft[]; warnings: string[]; path: string }> {
  const path = join(dir, name);
  const bytes = typeof html === 'string' ? new Uint8Array(Buffer.from(html, 'utf8')) : html;
  await writeFile(path, bytes);
  const items = await new HtmlLoader().load({ path, bytes }, ctx);
  return { items, warnings: ctx.warnings, path };
}

const para = (text: string) => `<p>${text}</p>`;
const LONG_A = 'Alpha paragraph text that is comfortably longer than thirty characters.';
const LONG_B = 'Beta paragraph text that is also comfortably longer than thirty characters.';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mmrag-html-'));
  redPng = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#ff0000' } })
    .png()
    .toBuffer();
  bluePng = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#0000ff' } })
    .png()
    .toBuffer();
  await mkdir(join(dir, 'Saved Page_files'));
  await writeFile(join(dir, 'Saved Page_files', 'red.png'), redPng);
  await writeFile(join(dir, 'Saved Page_files', 'blue dot.png'), bluePng);
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'assets', 'blue.png'), bluePng);
  await writeFile(join(dir, 'fake.png'), 'plain text pretending to be a picture');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HtmlLoader: text, titles and sections', () => {
  it('takes the title from <title>, sections from the latest h1-h3, text from p/ul/ol', async () => {
    const html = `<!doctype html><html><head><title>  My   Page </title></head><body>
      ${para(LONG_A)}
      <h1>First heading</h1>${para(LONG_B)}
      <h2>Second <em>heading</em></h2>
      <ul><li>apples and pears, washed</li><li>bread from the corner bakery</li></ul>
      <h3>Third</h3>
      <ol><li>one step of the recipe</li><li>another step of the recipe</li></ol>
      <h4>Not a section</h4>${para(LONG_A)}
    </body></html>`;
    const { items, warnings } = await loadPage('sections.html', html);
    expect(warnings).toEqual([]);
    expect(items).toEqual([
      { modality: 'text', title: 'My Page', section: 'My Page', text: LONG_A },
      { modality: 'text', title: 'My Page', section: 'First heading', text: LONG_B },
      {
        modality: 'text',
        title: 'My Page',
        section: 'Second heading',
        text: 'apples and pears, washed bread from the corner bakery',
      },
      {
        modality: 'text',
        title: 'My Page',
        section: 'Third',
        text: 'one step of the recipe another step of the recipe',
      },
      { modality: 'text', title: 'My Page', section: 'Third', text: LONG_A },
    ]);
  });

  it('uses the file name without extension when there is no title', async () => {
    const { items } = await loadPage('untitled-notes.htm', `<body>${para(LONG_A)}</body>`);
    expect(items[0]).toMatchObject({ title: 'untitled-notes', section: 'untitled-notes' });
  });

  it('keeps a block of 30 characters and drops one of 29', async () => {
    const thirty = 'abcdefghij abcdefghij abcdefgh';
    const twentyNine = 'abcdefghij abcdefghij abcdefg';
    expect(thirty).toHaveLength(30);
    expect(twentyNine).toHaveLength(29);
    const { items } = await loadPage('short.html', `<p>${twentyNine}</p><p>  ${thirty}\n </p>`);
    expect(texts(items).map((t) => t.text)).toEqual([thirty]);

    const strict = await loadPage(
      'short2.html',
      `<p>${thirty}</p>`,
      testLoaderContext({ minTextLength: 31 }),
    );
    expect(strict.items).toEqual([]);
  });

  it('chunks a long paragraph with overlap, exactly as chunkText does', async () => {
    const sentences = Array.from(
      { length: 30 },
      (_, i) => `Sentence number ${i} talks about the history of shape number ${i * 7}.`,
    );
    const long = sentences.join(' ');
    const { items } = await loadPage('long.html', `<title>Long</title><h2>History</h2><p>${long}</p>`);
    const chunks = texts(items).map((t) => t.text);
    expect(chunks).toEqual(chunkText(long, 256, 0.25));
    expect(chunks.length).toBeGreaterThan(5);
    for (let i = 0; i < chunks.length; i++) {
      expect(chunks[i]!.length).toBeLessThanOrEqual(256);
      if (i > 0) {
        // the next chunk starts with words the previous chunk ended with
        const firstWords = chunks[i]!.split(' ').slice(0, 3).join(' ');
        expect(chunks[i - 1]!.endsWith(firstWords) || chunks[i - 1]!.includes(` ${firstWords} `)).toBe(true);
      }
    }
    expect(new Set(texts(items).map((t) => t.section))).toEqual(new Set(['History']));
  });

  it('never turns script or style text into items', async () => {
    const html = `<html><head><title>S</title>
      <script>var p = "<p>This script text would be a long paragraph if it ran</p>";</script>
      <style>p::before { content: "This style text is long enough to be a paragraph"; }</style></head>
      <body><p>Visible text that is long enough to keep.<script>document.write("hidden script words")</script></p>
      <noscript><p>No-script fallback text that is long enough too.</p></noscript>
      <script type="text/template"><p>Template text inside a script that is long enough.</p></script></body></html>`;
    const { items } = await loadPage('script.html', html);
    expect(texts(items).map((t) => t.text)).toEqual(['Visible text that is long enough to keep.']);
  });

  it('visits a p inside a list item both within the list and on its own (like the reference)', async () => {
    const html = `<ul><li><p>${LONG_A}</p></li><li>second item of the list</li></ul>`;
    const { items } = await loadPage('nested.html', html);
    expect(texts(items).map((t) => t.text)).toEqual([`${LONG_A} second item of the list`, LONG_A]);
  });

  it('decodes windows-1252 and UTF-16 pages', async () => {
    const latin = Buffer.concat([
      Buffer.from('<html><head><meta charset="windows-1252"><title>Caf'),
      Buffer.from([0xe9]),
      Buffer.from('</title></head><body><p>Cr'),
      Buffer.from([0xe8]),
      Buffer.from('me br'),
      Buffer.from([0xfb]),
      Buffer.from('l'),
      Buffer.from([0xe9, 0x20, 0x80]),
      Buffer.from(' five for the whole table</p></body></html>'),
    ]);
    const { items } = await loadPage('latin.html', new Uint8Array(latin));
    expect(items).toEqual([
      { modality: 'text', title: 'Café', section: 'Café', text: 'Crème brûlé € five for the whole table' },
    ]);

    const httpEquiv = '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1"><p>';
    expect(
      decodeHtmlBytes(new Uint8Array(Buffer.concat([Buffer.from(httpEquiv), Buffer.from([0xe9])]))),
    ).toBe(`${httpEquiv}é`);

    const utf16 = `<title>Ünïcode</title><p>${LONG_B}</p>`;
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(utf16, 'utf16le')]);
    expect(decodeHtmlBytes(new Uint8Array(le))).toBe(utf16);
    const { items: fromUtf16 } = await loadPage('utf16.html', new Uint8Array(le));
    expect(fromUtf16).toEqual([{ modality: 'text', title: 'Ünïcode', section: 'Ünïcode', text: LONG_B }]);

    expect(decodeHtmlBytes(new Uint8Array(Buffer.from('<p>naïve</p>')))).toBe('<p>naïve</p>');
    expect(decodeHtmlBytes(new Uint8Array(Buffer.from('\ufeff<p>bom</p>')))).toBe('<p>bom</p>');
  });
});

describe('HtmlLoader: images', () => {
  it('captions from alt, then the figure caption, then "No caption available"', async () => {
    const html = `<title>Pics</title><h2>Gallery</h2>
      <img src="Saved Page_files/red.png" alt="  A red   square ">
      <figure><div><img src="Saved Page_files/red.png"></div><figcaption> The <b>red</b> one </figcaption></figure>
      <figure><img src="Saved Page_files/red.png" alt="   "><figcaption>Blank alt falls back</figcaption></figure>
      <img src="Saved Page_files/red.png">`;
    const { items, warnings } = await loadPage('captions.html', html);
    expect(warnings).toEqual([]);
    expect(images(items).map((i) => i.caption)).toEqual([
      'A red square',
      'The red one',
      'Blank alt falls back',
      NO_CAPTION,
    ]);
    expect(NO_CAPTION).toBe('No caption available');
    for (const image of images(items)) {
      expect(image).toMatchObject({ title: 'Pics', section: 'Gallery' });
      expect(Buffer.from(image.picture.bytes).equals(redPng)).toBe(true);
      expect(image.picture.mime).toBe('image/png');
    }
  });

  it('reads pictures from a browser-saved _files folder (URL-encoded names, query strings)', async () => {
    const html = `<title>Saved Page</title>
      <p>${LONG_A}</p>
      <img src="./Saved%20Page_files/blue%20dot.png?width=16" alt="blue">
      <img srcset="Saved%20Page_files/red.png 1x, Saved%20Page_files/blue%20dot.png 2x" alt="red via srcset">`;
    const { items, warnings } = await loadPage('Saved Page.html', html);
    expect(warnings).toEqual([]);
    const [blue, red] = images(items);
    expect(Buffer.from(blue!.picture.bytes).equals(bluePng)).toBe(true);
    expect(blue!.picture.origin).toBe(join(dir, 'Saved Page_files', 'blue dot.png'));
    expect(Buffer.from(red!.picture.bytes).equals(redPng)).toBe(true);
    expect(items.map((i) => i.modality)).toEqual(['text', 'image', 'image']);
  });

  it('reads data: URI pictures', async () => {
    const uri = `data:image/png;base64,${redPng.toString('base64')}`;
    const { items, warnings } = await loadPage('data.html', `<img src="${uri}" alt="inline">`);
    expect(warnings).toEqual([]);
    expect(images(items)).toHaveLength(1);
    expect(Buffer.from(images(items)[0]!.picture.bytes).equals(redPng)).toBe(true);
  });

  it('resolves relative refs against a relative <base href>', async () => {
    const html = `<head><base href="assets/"></head><body><img src="blue.png" alt="from base"></body>`;
    const { items, warnings } = await loadPage('based.html', html);
    expect(warnings).toEqual([]);
    expect(images(items)[0]!.picture.origin).toBe(join(dir, 'assets', 'blue.png'));
  });

  it('warns once per picture that cannot be had and goes on with the page', async () => {
    const html = `<title>Broken</title>
      <p>${LONG_A}</p>
      <img src="Saved Page_files/missing.png" alt="gone">
      <img src="fake.png" alt="not a picture">
      <img src="https://images.example.com/remote.png" alt="remote">
      <img alt="no source at all">
      <p>${LONG_B}</p>
      <img src="Saved Page_files/red.png" alt="still here">`;
    const ctx = testLoaderContext({ fetchRemote: false });
    const { items, warnings, path } = await loadPage('broken.html', html, ctx);
    expect(items.map((i) => (i.modality === 'text' ? i.text : i.caption))).toEqual([
      LONG_A,
      LONG_B,
      'still here',
    ]);
    expect(warnings).toHaveLength(4);
    for (const warning of warnings) expect(warning).toContain(path);
    expect(warnings[0]).toContain('Saved Page_files/missing.png');
    expect(warnings[0]).toMatch(/not found/);
    expect(warnings[1]).toContain('fake.png');
    expect(warnings[1]).toMatch(/not a picture/);
    expect(warnings[2]).toContain('https://images.example.com/remote.png');
    expect(warnings[2]).toMatch(/remote fetching is off/);
    expect(warnings[3]).toMatch(/without src/);
  });

  it('warns about a picture over the size limit', async () => {
    const ctx = testLoaderContext({ limits: { maxImageBytes: 10 } });
    const { items, warnings } = await loadPage('big.html', '<img src="Saved Page_files/red.png">', ctx);
    expect(items).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/over the limit/);
  });

  it('takes the first srcset candidate, even a data: URI with a comma inside', () => {
    expect(imageRef(undefined, ' a.png 1x, b.png 2x')).toBe('a.png');
    expect(imageRef('', 'a.png, b.png 2x')).toBe('a.png');
    expect(imageRef(undefined, 'data:image/png;base64,AAAA 1x, b.png 2x')).toBe('data:image/png;base64,AAAA');
    expect(imageRef(' x.png ', 'a.png')).toBe('x.png');
    expect(imageRef(undefined, undefined)).toBeUndefined();
    expect(imageRef('  ', '  ')).toBeUndefined();
  });
});

describe('the demo corpus in samples/', () => {
  const pages = fileURLToPath(new URL('../../samples/pages', import.meta.url));

  it('loads every sample page with its pictures and no warnings', async () => {
    const loaded: Record<string, ItemDraft[]> = {};
    for (const name of ['shapes-field-guide', 'traffic-signs', 'kite-festival']) {
      const path = join(pages, `${name}.html`);
      const ctx = testLoaderContext({ fetchRemote: false });
      loaded[name] = await new HtmlLoader().load({ path, bytes: new Uint8Array(await readFile(path)) }, ctx);
      expect(ctx.warnings, name).toEqual([]);
      expect(images(loaded[name]!).length, name).toBeGreaterThan(0);
    }
    const guide = loaded['shapes-field-guide']!;
    expect(images(guide).map((i) => i.caption)).toContain(NO_CAPTION);
    expect(images(guide).some((i) => i.picture.origin.startsWith('data:image/png'))).toBe(true);
    expect(images(guide).find((i) => i.section === 'Squares')?.caption).toBe('A Mondrian-style blue square');
    expect(texts(guide).some((t) => /script text/i.test(t.text))).toBe(false);
    const zorblax = Object.entries(loaded).filter(([, items]) =>
      texts(items).some((t) => t.text.includes('Zorblax')),
    );
    expect(zorblax.map(([name]) => name)).toEqual(['kite-festival']);
    expect(
      texts(loaded['traffic-signs']!).some((t) => t.text.includes('The stop sign is a red octagon')),
    ).toBe(true);
  });
});
