// How scores read: in the command line's words, from the same pure module (src/retrieve/relevance.ts imports only
// types, so the web app bundles it as it is).
import { formatRelevance } from '../../src/retrieve/relevance.js';
import type { Hit } from '../../src/server/contract.js';

export { formatRelevance };

export type Relevance = NonNullable<Hit['relevance']>;

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
