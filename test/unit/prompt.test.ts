import { describe, expect, it } from 'vitest';
import { buildReferencePrompt, formatSourceLine, numberedSources } from '../../src/generate/prompt.js';
import { formatLocation, formatTime } from '../../src/location.js';
import type { Hit } from '../../src/types.js';

function textHit(id: string, title: string, section: string, text: string, extra: Partial<Hit> = {}): Hit {
  return {
    id,
    modality: 'text',
    score: 0.5,
    similarity: 0.3,
    title,
    section,
    source: `/kb/${id}.html`,
    type: 'html',
    text,
    ...extra,
  };
}

function imageHit(
  id: string,
  title: string,
  section: string,
  caption: string,
  extra: Partial<Hit> = {},
): Hit {
  return {
    id,
    modality: 'image',
    score: 0.4,
    similarity: 0.25,
    title,
    section,
    source: `/kb/${id}.html`,
    type: 'html',
    caption,
    image: `/kb/.mmrag/media/${id}.png`,
    ...extra,
  };
}

const INSTRUCTION_WITH_IMAGES =
  'Please provide a concise, accurate answer to the query, based on the provided snippets and the attached images. ' +
  'Cite the numbers of the snippets you used in square brackets, like [1]. ' +
  'If they do not contain the answer, say so plainly.';
const INSTRUCTION_TEXT_ONLY =
  'Please provide a concise, accurate answer to the query, based on the provided snippets. ' +
  'Cite the numbers of the snippets you used in square brackets, like [1]. ' +
  'If they do not contain the answer, say so plainly.';

describe('buildReferencePrompt', () => {
  const t1 = textHit('a', 'Traffic signs', 'Stop', 'A stop sign is a red octagon.');
  const t2 = textHit('b', 'Traffic signs', 'Yield', 'A yield sign is a downward triangle.');
  const i1 = imageHit('c', 'Traffic signs', 'Stop', 'A red octagonal stop sign');

  it('lays out question, text snippets, image snippets and instruction exactly', () => {
    const prompt = buildReferencePrompt('What colour is a stop sign?', [t1, t2], [i1]);
    expect(prompt).toBe(
      [
        'Given the query "What colour is a stop sign?" and the following relevant snippets:',
        '',
        '[1] Article title: Traffic signs',
        'Section: Stop',
        'Snippet: A stop sign is a red octagon.',
        '',
        '[2] Article title: Traffic signs',
        'Section: Yield',
        'Snippet: A yield sign is a downward triangle.',
        '',
        'Relevant images (attached to this message in the same order):',
        '',
        '[3] Article title: Traffic signs',
        'Section: Stop',
        'Image Path: /kb/.mmrag/media/c.png',
        'Image Caption: A red octagonal stop sign',
        '',
        INSTRUCTION_WITH_IMAGES,
      ].join('\n'),
    );
  });

  it('says when there are no text snippets, and numbers images from [1]', () => {
    const prompt = buildReferencePrompt('Q?', [], [i1]);
    expect(prompt).toBe(
      [
        'Given the query "Q?" and the following relevant snippets:',
        '',
        'No text snippets were found.',
        '',
        'Relevant images (attached to this message in the same order):',
        '',
        '[1] Article title: Traffic signs',
        'Section: Stop',
        'Image Path: /kb/.mmrag/media/c.png',
        'Image Caption: A red octagonal stop sign',
        '',
        INSTRUCTION_WITH_IMAGES,
      ].join('\n'),
    );
  });

  it('says when there are no images, and leaves images out of the instruction', () => {
    const prompt = buildReferencePrompt('Q?', [t1], []);
    expect(prompt).toBe(
      [
        'Given the query "Q?" and the following relevant snippets:',
        '',
        '[1] Article title: Traffic signs',
        'Section: Stop',
        'Snippet: A stop sign is a red octagon.',
        '',
        'No images were found.',
        '',
        INSTRUCTION_TEXT_ONLY,
      ].join('\n'),
    );
  });

  it('keeps a sensible prompt when nothing was found', () => {
    expect(buildReferencePrompt('Q?', [], [])).toBe(
      [
        'Given the query "Q?" and the following relevant snippets:',
        '',
        'No text snippets were found.',
        '',
        'No images were found.',
        '',
        INSTRUCTION_TEXT_ONLY,
      ].join('\n'),
    );
  });

  it('fills empty titles, sections and captions, and falls back to the source for a missing image path', () => {
    const bare = textHit('d', '', '  ', 'text');
    const noPath = imageHit('e', 'T', 'S', '', { image: undefined });
    const prompt = buildReferencePrompt('Q?', [bare], [noPath]);
    expect(prompt).toContain('[1] Article title: (untitled)\nSection: (none)\nSnippet: text');
    expect(prompt).toContain(
      '[2] Article title: T\nSection: S\nImage Path: /kb/e.html\nImage Caption: (no caption)',
    );
  });

  it('numbers many hits continuously, in order, each exactly once', () => {
    const texts = Array.from({ length: 15 }, (_, i) =>
      textHit(`t${i}`, `Title ${i}`, `S${i}`, `snippet ${i}`),
    );
    const images = Array.from({ length: 5 }, (_, i) =>
      imageHit(`i${i}`, `Img ${i}`, `S${i}`, `caption ${i}`),
    );
    const prompt = buildReferencePrompt('Q?', texts, images);
    const numbers = [...prompt.matchAll(/^\[(\d+)\] Article title: (.*)$/gm)].map((m) => [
      Number(m[1]),
      m[2],
    ]);
    expect(numbers).toEqual([
      ...texts.map((hit, i) => [i + 1, hit.title]),
      ...images.map((hit, i) => [16 + i, hit.title]),
    ]);
    for (const [i, hit] of texts.entries())
      expect(prompt).toContain(
        `[${i + 1}] Article title: ${hit.title}\nSection: S${i}\nSnippet: snippet ${i}`,
      );
    for (const [i, hit] of images.entries()) {
      expect(prompt).toContain(
        `[${16 + i}] Article title: ${hit.title}\nSection: S${i}\nImage Path: ${hit.image}\nImage Caption: caption ${i}`,
      );
    }
    expect(prompt.indexOf('Relevant images')).toBeGreaterThan(prompt.indexOf('snippet 14'));
    expect(prompt.indexOf('Relevant images')).toBeLessThan(prompt.indexOf('caption 0'));
  });

  it('keeps multi-line snippets and quotes in the question verbatim', () => {
    const hit = textHit('m', 'T', 'S', 'line one\nline two');
    const prompt = buildReferencePrompt('What does "STOP" mean?\nBe brief.', [hit], []);
    expect(
      prompt.startsWith(
        'Given the query "What does "STOP" mean?\nBe brief." and the following relevant snippets:\n\n',
      ),
    ).toBe(true);
    expect(prompt).toContain('Snippet: line one\nline two\n\nNo images were found.');
  });
});

describe('numberedSources', () => {
  it('numbers text hits then image hits from 1, matching the prompt', () => {
    const texts = [textHit('a', 'A', 's', 'x'), textHit('b', 'B', 's', 'y')];
    const images = [imageHit('c', 'C', 's', 'z')];
    const sources = numberedSources(texts, images);
    expect(sources.map((s) => [s.n, s.hit.id])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
    const prompt = buildReferencePrompt('Q', texts, images);
    for (const { n, hit } of sources) expect(prompt).toContain(`[${n}] Article title: ${hit.title}\n`);
    expect(numberedSources([], [])).toEqual([]);
    expect(numberedSources([], images)).toEqual([{ n: 1, hit: images[0] }]);
  });
});

describe('formatTime', () => {
  it.each([
    [0, '0:00'],
    [5, '0:05'],
    [59.9, '0:59'],
    [60, '1:00'],
    [65, '1:05'],
    [600, '10:00'],
    [3599, '59:59'],
    [3600, '1:00:00'],
    [3725, '1:02:05'],
    [-3, '0:00'],
  ])('%s s -> %s', (seconds, expected) => {
    expect(formatTime(seconds)).toBe(expected);
  });
});

describe('formatLocation', () => {
  it.each([
    [undefined, ''],
    [{}, ''],
    [{ page: 4 }, 'page 4'],
    [{ slide: 2 }, 'slide 2'],
    [{ sheet: 'Sales', rows: [2, 9] as [number, number] }, 'sheet Sales, rows 2-9'],
    [{ rows: [3, 3] as [number, number] }, 'row 3'],
    [{ start: 65, end: 80 }, '1:05-1:20'],
    [{ start: 65 }, 'at 1:05'],
    [{ start: 65, end: 65 }, 'at 1:05'],
    [{ page: 1, start: 0, end: 3 }, 'page 1, 0:00-0:03'],
  ])('%j -> %s', (location, expected) => {
    expect(formatLocation(location)).toBe(expected);
  });
});

describe('formatSourceLine', () => {
  it('joins number, title, section and source', () => {
    const hit = textHit('x', 'Traffic signs', 'Stop', 't', { source: '/path/page.html' });
    expect(formatSourceLine(3, hit)).toBe('[3] Traffic signs, Stop - /path/page.html');
  });

  it('adds page, slide and time locations', () => {
    const pdf = textHit('p', 'Manual', 'Safety', 't', {
      source: '/docs/manual.pdf',
      type: 'pdf',
      location: { page: 12 },
    });
    expect(formatSourceLine(1, pdf)).toBe('[1] Manual, Safety - /docs/manual.pdf (page 12)');
    const deck = imageHit('s', 'Deck', '', 'c', {
      source: '/docs/deck.pptx',
      type: 'pptx',
      location: { slide: 7 },
    });
    expect(formatSourceLine(2, deck)).toBe('[2] Deck - /docs/deck.pptx (slide 7)');
    const talk = textHit('v', 'Talk', 'Intro', 't', {
      source: '/media/talk.mp4',
      type: 'video',
      location: { start: 125, end: 190.5 },
    });
    expect(formatSourceLine(10, talk)).toBe('[10] Talk, Intro - /media/talk.mp4 (2:05-3:10)');
  });

  it('falls back to the source alone when title and section are empty', () => {
    const hit = textHit('e', '', '', 't', { source: '/notes.txt' });
    expect(formatSourceLine(4, hit)).toBe('[4] /notes.txt');
    expect(formatSourceLine(4, { ...hit, location: { page: 2 } })).toBe('[4] /notes.txt (page 2)');
  });
});
