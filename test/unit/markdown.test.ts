import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarkdownLoader, parseMarkdown, readFrontMatter } from '../../src/ingest/loaders/markdown.js';
import { images, texts } from '../helpers/items.js';
import { testLoaderContext } from '../helpers/loader-context.js';

describe('readFrontMatter', () => {
  it('takes the YAML title and skips the block', () => {
    const out = readFrontMatter('---\nlayout: post\ntitle: "Hello: World"\ntags: [a]\n---\n# Body\n');
    expect(out).toEqual({ title: 'Hello: World', body: '# Body\n' });
  });

  it('reads TOML front matter and ignores an unclosed block', () => {
    expect(readFrontMatter("+++\ntitle = 'Toml page'\n+++\ntext").title).toBe('Toml page');
    expect(readFrontMatter('---\ntitle: never closed\ntext')).toEqual({
      body: '---\ntitle: never closed\ntext',
    });
  });
});

describe('parseMarkdown', () => {
  it('makes sections from ATX and setext headings, the title from the first h1', () => {
    const doc = parseMarkdown(
      [
        'Intro paragraph before any heading.',
        '',
        'Project Atlas',
        '=============',
        '',
        'Atlas maps things.',
        '',
        'Setup *steps*',
        '-------------',
        'Run the installer.',
        '',
        '### Deep [link](http://x.org) heading ###',
        'Deep text.',
        '#not-a-heading because no space',
      ].join('\n'),
    );
    expect(doc.title).toBe('Project Atlas');
    expect(doc.sections.map((s) => [s.heading, s.level])).toEqual([
      ['', 0],
      ['Project Atlas', 1],
      ['Setup steps', 2],
      ['Deep link heading', 3],
    ]);
    expect(doc.sections[3]!.blocks[0]!.text).toBe('Deep text.\n#not-a-heading because no space');
  });

  it('prefers the front-matter title and keeps a thematic break out of the text', () => {
    const doc = parseMarkdown('---\ntitle: From Front Matter\n---\n# Heading One\n\ntext\n\n---\n\nmore');
    expect(doc.title).toBe('From Front Matter');
    expect(doc.sections[0]!.blocks.map((b) => b.text)).toEqual(['text', 'more']);
  });

  it('keeps fenced code with its language, ignoring headings and images inside it', () => {
    const doc = parseMarkdown(
      [
        '# Code',
        '',
        '```python',
        '# not a heading',
        'x = "![no](image.png)"',
        '```',
        '',
        '~~~',
        'plain',
        '~~~',
      ].join('\n'),
    );
    expect(doc.sections).toHaveLength(1);
    expect(doc.sections[0]!.blocks).toEqual([
      { text: '```python\n# not a heading\nx = "![no](image.png)"\n```', kind: 'lines' },
      { text: '~~~\nplain\n~~~', kind: 'lines' },
    ]);
    expect(doc.sections[0]!.images).toEqual([]);
  });

  it('keeps tables and lists as Markdown lines', () => {
    const doc = parseMarkdown('| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n\n> quoted\n> text');
    expect(doc.sections[0]!.blocks).toEqual([
      { text: '| a | b |\n|---|---|\n| 1 | 2 |', kind: 'lines' },
      { text: '- one\n- two', kind: 'lines' },
      { text: '> quoted\n> text', kind: 'lines' },
    ]);
  });

  it('finds inline, reference and <img> images with their captions, per section', () => {
    const doc = parseMarkdown(
      [
        '# First',
        'See ![A red circle](img/circle.png "Circle title") here.',
        '',
        '![](<my pic.png> "Only a title")',
        '',
        '## Second',
        '<img src="shot.jpg" alt="Screen &amp; shot" width="30">',
        '',
        'Ref image ![Logo][logo] and ![Undefined][nope].',
        '',
        '[logo]: ./logo.svg "The logo"',
      ].join('\n'),
    );
    expect(doc.sections[0]!.images).toEqual([
      { src: 'img/circle.png', alt: 'A red circle', title: 'Circle title' },
      { src: 'my pic.png', alt: '', title: 'Only a title' },
    ]);
    expect(doc.sections[1]!.images).toEqual([
      { src: 'shot.jpg', alt: 'Screen & shot', title: '' },
      { src: './logo.svg', alt: 'Logo', title: 'The logo' },
    ]);
    // the image syntax becomes its alt text; a paragraph made only of images adds no text
    expect(doc.sections[0]!.blocks.map((b) => b.text)).toEqual(['See A red circle here.']);
    expect(doc.sections[1]!.blocks.map((b) => b.text)).toEqual(['Ref image Logo and Undefined.']);
  });

  it('skips HTML comments', () => {
    const doc = parseMarkdown('<!-- a\n# hidden heading\n-->\nvisible');
    expect(doc.sections).toHaveLength(1);
    expect(doc.sections[0]!.blocks[0]!.text).toBe('visible');
  });
});

describe('MarkdownLoader', () => {
  let dir: string;
  let png: Uint8Array;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mmrag-md-'));
    png = new Uint8Array(
      await sharp(
        Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="24" fill="red"/></svg>',
        ),
      )
        .png()
        .toBuffer(),
    );
    await writeFile(join(dir, 'circle.png'), png);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('turns headings into sections, keeps short paragraphs, loads the local image and warns on a missing one', async () => {
    const long = 'Quartz crystals resonate at a precise frequency when voltage is applied to them. '.repeat(
      8,
    );
    const markdown = [
      '# Shapes handbook',
      '',
      'Short note.',
      '',
      'Tiny.',
      '',
      '## Circles',
      '',
      '![A red circle](circle.png)',
      '',
      long,
      '',
      '## Broken',
      '',
      'This section references ![a lost picture](missing.png) that is not there.',
    ].join('\n');
    const path = join(dir, 'handbook.md');
    const bytes = new TextEncoder().encode(markdown);
    await writeFile(path, bytes);
    const ctx = testLoaderContext();
    const items = await new MarkdownLoader().load({ path, bytes }, ctx);

    const textItems = texts(items);
    expect(new Set(items.map((i) => i.title))).toEqual(new Set(['Shapes handbook']));
    // short paragraphs under minTextLength are merged, not dropped
    expect(textItems[0]).toMatchObject({ section: 'Shapes handbook', text: 'Short note.\n\nTiny.' });
    const circleChunks = textItems.filter((i) => i.section === 'Circles');
    expect(circleChunks.length).toBeGreaterThan(1);
    for (const chunk of circleChunks) expect(chunk.text.length).toBeLessThanOrEqual(256);
    expect(circleChunks.map((c) => c.text).join(' ')).toContain('Quartz crystals resonate');
    expect(textItems.find((i) => i.section === 'Broken')?.text).toBe(
      'This section references a lost picture that is not there.',
    );

    const imageItems = images(items);
    expect(imageItems).toHaveLength(1);
    expect(imageItems[0]).toMatchObject({
      section: 'Circles',
      caption: 'A red circle',
      title: 'Shapes handbook',
    });
    expect(Buffer.from(imageItems[0]!.picture.bytes).equals(Buffer.from(png))).toBe(true);
    expect(imageItems[0]!.picture.mime).toBe('image/png');

    expect(ctx.warnings).toHaveLength(1);
    expect(ctx.warnings[0]).toContain(path);
    expect(ctx.warnings[0]).toContain('missing.png');
  });

  it('uses the file name as title without an h1 and "No caption available" for images without alt or title', async () => {
    const path = join(dir, 'notes.md');
    const bytes = new TextEncoder().encode(
      '## Only h2\n\nSome text worth keeping around.\n\n![](circle.png)\n',
    );
    const items = await new MarkdownLoader().load({ path, bytes }, testLoaderContext());
    expect(items.map((i) => i.title)).toEqual(['notes.md', 'notes.md']);
    expect(images(items)[0]).toMatchObject({ section: 'Only h2', caption: 'No caption available' });
  });

  it('reads a data: URI image, and the same picture twice only once', async () => {
    const uri = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
    const bytes = new TextEncoder().encode(`# Inline\n\n![embedded](${uri})\n\n![again](${uri})\n`);
    const items = await new MarkdownLoader().load(
      { path: join(dir, 'inline.md'), bytes },
      testLoaderContext(),
    );
    expect(images(items).map((i) => i.caption)).toEqual(['embedded']);
    expect(Buffer.from(images(items)[0]!.picture.bytes).equals(Buffer.from(png))).toBe(true);
  });

  it('refuses a binary file named .md', async () => {
    const bytes = new Uint8Array(await readFile(join(dir, 'circle.png')));
    await expect(
      new MarkdownLoader().load({ path: join(dir, 'fake.md'), bytes }, testLoaderContext()),
    ).rejects.toThrow(/fake\.md: the file holds binary data/);
  });
});
