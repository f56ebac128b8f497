import { describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import { parseQuestions } from '../../src/eval/dataset.js';
import {
  capPerQuery,
  captionPairs,
  MAX_ITEMS_PER_QUERY,
  parsePairsFile,
  questionPairs,
  sectionPairs,
  sideOf,
  splitKey,
  splitPairs,
  type TextPair,
} from '../../src/tune/pairs.js';
import type { StoredItem } from '../../src/types.js';

function item(id: string, fields: Partial<StoredItem> = {}): StoredItem {
  return {
    id,
    modality: 'image',
    type: 'html',
    source: '/docs/page.html',
    title: 'Harbour signs',
    section: 'Markers',
    text: 'a red circle',
    ingestedAt: 0,
    ...fields,
  };
}

describe('pairs from the knowledge base', () => {
  it('pictures give their captions; placeholders and captions without words are skipped', () => {
    const pairs = captionPairs([
      item('a', { text: 'The fuel dock marker' }),
      item('b', { text: 'No caption available' }),
      item('c', { text: '  ' }),
      item('d', { text: '12' }),
    ]);
    expect(pairs).toEqual([{ query: 'The fuel dock marker', item: 'a', modality: 'image', kind: 'caption' }]);
  });

  it('text chunks give their section title, else the document title; file names are not titles', () => {
    const pairs = sectionPairs([
      item('t1', { modality: 'text', section: 'Opening hours', text: 'Open from eight until noon.' }),
      item('t2', { modality: 'text', section: 'Harbour signs', title: 'Harbour signs', text: '...' }),
      item('t3', { modality: 'text', section: '', title: 'report-2024.pdf', text: '...' }),
    ]);
    expect(pairs.map((p) => [p.item, p.query])).toEqual([
      ['t1', 'Opening hours'],
      ['t2', 'Harbour signs'],
    ]);
  });

  it('eval questions name items by id or by file; questions by picture or naming nothing are reported', () => {
    const items = [
      item('img1', { source: '/docs/kite.html' }),
      item('txt1', { modality: 'text', source: '/docs/kite.html' }),
      item('img2', { source: '/docs/boat.html' }),
    ];
    const questions = parseQuestions(
      [
        '{"query": "the kite page", "relevant": ["kite.html"]}',
        '{"query": "the boat picture", "relevant": ["img2"]}',
        '{"query": "", "image": "q.png", "relevant": ["img1"]}',
        '{"query": "something else", "relevant": ["nowhere.pdf"]}',
      ].join('\n'),
      '/q',
    );
    const { pairs, unused } = questionPairs(questions, items, 'eval', 1);
    expect(pairs.map((p) => [p.query, p.item, p.modality]).sort()).toEqual([
      ['the boat picture', 'img2', 'image'],
      ['the kite page', 'img1', 'image'],
      ['the kite page', 'txt1', 'text'],
    ]);
    expect(new Set(pairs.map((p) => p.group))).toEqual(
      new Set(['eval:the kite page', 'eval:the boat picture']),
    );
    expect(unused.map((u) => u.line)).toEqual([3, 4]);
  });

  it('a pairs file takes {"query", "item"} or {"query", "relevant"}, and says which line is wrong', () => {
    const questions = parsePairsFile(
      '{"query": "a", "item": "x"}\n\n{"query": "b", "relevant": ["y", "z"]}\n',
    );
    expect(questions.map((q) => [q.line, q.query, q.relevant])).toEqual([
      [1, 'a', ['x']],
      [3, 'b', ['y', 'z']],
    ]);
    expect(() => parsePairsFile('{"query": "a"}')).toThrow(
      /Line 1 of the pairs file: give "item" or "relevant"/,
    );
    expect(() => parsePairsFile('{"query": "a", "item": "x", "grade": 2}')).toThrow(MmragError);
    expect(() => parsePairsFile('not json')).toThrow(/Line 1/);
  });

  it('caps the items of one query (a long section does not drown the rest); file pairs are kept whole', () => {
    const many: TextPair[] = Array.from({ length: 30 }, (_, i) => ({
      query: 'Opening hours',
      item: `t${i}`,
      modality: 'text',
      kind: 'section',
    }));
    const fromFile: TextPair[] = Array.from({ length: 12 }, (_, i) => ({
      query: 'Opening hours',
      item: `f${i}`,
      modality: 'text',
      kind: 'file',
      group: 'file:opening hours',
    }));
    const kept = capPerQuery([...many, ...fromFile], MAX_ITEMS_PER_QUERY, 1);
    expect(kept.filter((p) => p.kind === 'section')).toHaveLength(MAX_ITEMS_PER_QUERY);
    expect(kept.filter((p) => p.kind === 'file')).toHaveLength(12);
  });
});

const keyed = (ids: string[]) => ids.map((id) => ({ id, key: id }));

describe('the held-out split', () => {
  const ids = Array.from({ length: 2000 }, (_, i) => `item-${i}`);
  const pairs: TextPair[] = ids.flatMap((id, i) => [
    { query: `caption ${i}`, item: id, modality: 'image' as const, kind: 'caption' as const },
    { query: `question ${i}`, item: id, modality: 'image' as const, kind: 'synthetic' as const },
  ]);
  // Eval questions, each naming three items (one question may name items on different sides).
  const evalPairs: TextPair[] = Array.from({ length: 300 }, (_, q) =>
    [0, 1, 2].map((j) => ({
      query: `eval question ${q}`,
      item: ids[(q * 7 + j * 131) % ids.length]!,
      modality: 'image' as const,
      kind: 'eval' as const,
      group: `eval:eval question ${q}`,
    })),
  ).flat();

  it('never trains on a pair whose item is held out, nor on a held-out eval question', () => {
    const split = splitPairs([...pairs, ...evalPairs], keyed(ids), 3);
    const itemSide = new Map(ids.map((id) => [id, sideOf(`item:${id}`, 3)]));
    for (const pair of split.train) expect(itemSide.get(pair.item)).toBe('train');
    const heldOutQuestions = new Set(
      [...split.validation, ...split.test].filter((p) => p.kind === 'eval').map((p) => p.group),
    );
    for (const pair of split.train)
      if (pair.kind === 'eval') expect(heldOutQuestions.has(pair.group)).toBe(false);
    // Non-question pairs measured are exactly the pairs of held-out items.
    for (const side of ['validation', 'test'] as const)
      for (const pair of split[side]) if (pair.kind !== 'eval') expect(itemSide.get(pair.item)).toBe(side);
    // Items are split roughly 70 / 15 / 15.
    expect(split.items.train + split.items.validation + split.items.test).toBe(2000);
    expect(split.items.test / 2000).toBeGreaterThan(0.12);
    expect(split.items.test / 2000).toBeLessThan(0.18);
    expect(split.items.validation / 2000).toBeGreaterThan(0.12);
    expect(split.items.validation / 2000).toBeLessThan(0.18);
  });

  it('an eval question goes to one side as a whole', () => {
    const split = splitPairs(evalPairs, keyed(ids), 3);
    const sides = new Map<string, Set<string>>();
    for (const side of ['train', 'validation', 'test'] as const)
      for (const pair of split[side]) {
        const set = sides.get(pair.group!) ?? new Set();
        set.add(side);
        sides.set(pair.group!, set);
      }
    for (const set of sides.values()) expect(set.size).toBe(1);
  });

  it('keys items by content: the same picture or passage under two ids falls on one side', () => {
    const copies = Array.from({ length: 400 }, (_, i) => [
      item(`a${i}`, { media: `ab/${i}.png`, source: '/docs/one.html' }),
      item(`b${i}`, { media: `ab/${i}.png`, source: '/docs/two.html' }),
      item(`t${i}`, { modality: 'text', text: `Passage  ${i}\n`, source: '/docs/one.html' }),
      item(`u${i}`, { modality: 'text', text: `Passage ${i}`, source: '/docs/two.html' }),
    ]).flat();
    const pairs: TextPair[] = copies.map((c) => ({
      query: `q ${c.id}`,
      item: c.id,
      modality: c.modality,
      kind: 'caption',
    }));
    const split = splitPairs(
      pairs,
      copies.map((c) => ({ id: c.id, key: splitKey(c) })),
      4,
    );
    const side = new Map<string, string>();
    for (const s of ['train', 'validation', 'test'] as const) for (const p of split[s]) side.set(p.item, s);
    for (let i = 0; i < 400; i++) {
      expect(side.get(`a${i}`)).toBe(side.get(`b${i}`));
      expect(side.get(`t${i}`)).toBe(side.get(`u${i}`));
    }
    expect(new Set(side.values()).size).toBe(3);
  });

  it('is stable: an item stays on its side as the knowledge base grows, and the seed changes the split', () => {
    const small = splitPairs(pairs.slice(0, 400), keyed(ids.slice(0, 200)), 5);
    const large = splitPairs(pairs, keyed(ids), 5);
    const testItems = (s: typeof small) => new Set(s.test.map((p) => p.item));
    const smallTest = testItems(small);
    const largeTest = testItems(large);
    for (const id of smallTest) expect(largeTest.has(id)).toBe(true);
    const other = testItems(splitPairs(pairs, keyed(ids), 6));
    expect([...largeTest].filter((id) => other.has(id)).length).toBeLessThan(largeTest.size * 0.5);
  });
});
