import { describe, expect, it } from 'vitest';
import {
  contentTerms,
  floorOf,
  floorsFromProbes,
  judgeAnswerability,
  perTermEvidence,
} from '../../src/retrieve/gate.js';

describe('the answerability gate, pure parts', () => {
  it('a floor sits above what unrelated probes score, robust to a few related ones', () => {
    // Twenty probes near 0.70 and two that happen to be related (0.90, 0.95).
    const probes = [...Array.from({ length: 20 }, (_, i) => 0.69 + (i % 5) * 0.005), 0.9, 0.95];
    const floor = floorOf(probes, 'vector');
    expect(floor).toBeGreaterThan(0.71);
    expect(floor).toBeLessThan(0.8); // the two related probes do not drag it up to themselves
    // Identical probes leave no spread: a small margin still separates a floor from them.
    expect(floorOf([0.95, 0.95, 0.95], 'vector')).toBeCloseTo(0.97, 6);
    // No probe matched any word: any match is evidence.
    expect(floorOf([0, 0, 0], 'bm25')).toBe(0);
    expect(floorOf([], 'vector')).toBe(1);
  });

  it('floors come from each signal of each modality; a probe no word matched counts as BM25 0', () => {
    const floors = floorsFromProbes([
      { text: { vector: 0.7, bm25: 1 }, image: { vector: 0.2 } },
      { text: { vector: 0.7 }, image: { vector: 0.2 } },
      { text: { vector: 0.7 }, image: { vector: 0.2 } },
    ]);
    expect(floors.probes).toBe(3);
    expect(floors.text.bm25).toBeCloseTo(0.8, 6); // the 90th percentile of 0, 0, 1
    expect(floors.image.bm25).toBe(0);
    expect(floors.text.vector).toBeCloseTo(0.72, 6);
  });

  it('a question is answerable when any evidence clears its floor, and says which', () => {
    const floors = { text: { vector: 0.8, bm25: 1.5 }, image: { vector: 0.3, bm25: 0 }, probes: 40 };
    const verdict = judgeAnswerability({ text: { vector: 0.75, bm25: 2 }, image: { vector: 0.31 } }, floors);
    expect(verdict).toMatchObject({ answerable: true, because: ['text.bm25', 'image.vector'] });
    const none = judgeAnswerability({ text: { vector: 0.8, bm25: 1.5 }, image: { vector: 0.3 } }, floors);
    expect(none).toMatchObject({ answerable: false, because: [] });
  });

  it('BM25 evidence is per content word: one rare word weighs like a question it fully covers', () => {
    expect(contentTerms('What is the capital of Mongolia?')).toEqual(['capital', 'mongolia']);
    expect(contentTerms('the the of and')).toEqual([]);
    const evidence = { text: { vector: 0.5, bm25: 6 }, image: {} };
    expect(perTermEvidence(evidence, 'Which museum holds the Greystone tiles today?').text.bm25).toBeCloseTo(
      1.2,
    );
    expect(perTermEvidence(evidence, 'Zorblax').text.bm25).toBe(6);
    expect(perTermEvidence(evidence, 'Zorblax').text.vector).toBe(0.5);
  });
});
