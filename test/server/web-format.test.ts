import { describe, expect, it } from 'vitest';
import { formatRelevance as cliFormat } from '../../src/retrieve/relevance.js';
import { formatRelevance as webFormat } from '../../web/src/format.js';

describe('the web app reads scores in the command line’s words', () => {
  it('formats every kind of relevance exactly as `mmrag search` prints it', () => {
    const kinds = ['cosine', 'softmax', 'bm25', 'rerank', 'fused'] as const;
    for (const kind of kinds) {
      for (const value of [0, 0.0123456, 0.5, 0.81234, 3.7261, 12.5]) {
        expect(webFormat({ kind, value }), `${kind} ${value}`).toBe(cliFormat({ kind, value }));
      }
    }
  });
});
