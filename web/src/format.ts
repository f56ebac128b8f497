// How scores read. The wording is the command line's (`formatRelevance` in src/retrieve/relevance.ts); the web app
// takes nothing at run time from the server's code, so the formatter is written again here, and a test
// (test/server/web-format.test.ts) checks that both print the same text for every kind.
import type { Hit } from '../../src/server/contract.js';

export type Relevance = NonNullable<Hit['relevance']>;

/** `cos 0.812`, `p 0.0412`, `bm25 7.20`, `rerank 0.931`, `rrf 0.033`. */
export function formatRelevance(relevance: Relevance): string {
  switch (relevance.kind) {
    case 'cosine':
      return `cos ${relevance.value.toFixed(3)}`;
    case 'softmax':
      return `p ${relevance.value.toFixed(4)}`;
    case 'bm25':
      return `bm25 ${relevance.value.toFixed(2)}`;
    case 'rerank':
      return `rerank ${relevance.value.toFixed(3)}`;
    case 'fused':
      return `rrf ${relevance.value.toFixed(3)}`;
  }
}

/** The score to show on a hit: its readable relevance (older servers: the ranking score). */
export function relevanceLabel(hit: Hit): string {
  return hit.relevance ? formatRelevance(hit.relevance) : hit.score.toFixed(3);
}

/** What each kind of score means, for the breakdown. */
const KIND_NAMES: Record<Relevance['kind'], string> = {
  cosine: 'cosine similarity of meaning',
  softmax: 'softmax probability (the reference scoring)',
  bm25: 'BM25 word match',
  rerank: 'reranker score',
  fused: 'fused rank score',
};

/** How each retriever scored a hit, one line each: the breakdown behind the badge. */
export function scoreLines(hit: Hit): string[] {
  const lines: string[] = [];
  if (hit.relevance) lines.push(`${formatRelevance(hit.relevance)}: ${KIND_NAMES[hit.relevance.kind]}`);
  const scores = hit.scores ?? {};
  if (scores.vector !== undefined) lines.push(`vector ${scores.vector.toFixed(3)}`);
  if (scores.bm25 !== undefined) lines.push(`BM25 ${scores.bm25.toFixed(2)}`);
  if (scores.rerank !== undefined) lines.push(`rerank ${scores.rerank.toFixed(3)}`);
  lines.push(`rank score ${hit.score.toFixed(4)}`);
  return lines;
}
