import type { Hit, Relevance } from '../types.js';

/** Which ranking a hit's readable score comes from. */
export type Evidence = 'vector' | 'bm25';

/**
 * The score a person can read, with its kind. A fused (reciprocal rank) score only orders hits: 0.033 says
 * nothing about how good a hit is. So a hit shows the reranker's score when it was reranked; otherwise the score
 * of the ranking that placed it highest: its vector score (cosine, or the reference softmax probability) or its
 * BM25 score when the words found it first. Pure: the same hit always reads the same.
 */
export function relevanceOf(
  hit: { score: number; scores: NonNullable<Hit['scores']>; evidence?: Evidence },
  plan: { mode: 'hybrid' | 'vector' | 'bm25'; scoring: 'cosine' | 'softmax' },
): Relevance {
  const vectorKind = plan.scoring === 'softmax' ? 'softmax' : 'cosine';
  const { scores } = hit;
  if (scores.rerank !== undefined) return { kind: 'rerank', value: scores.rerank };
  if (plan.mode === 'vector') return { kind: vectorKind, value: scores.vector ?? hit.score };
  if (plan.mode === 'bm25' && scores.bm25 !== undefined) return { kind: 'bm25', value: scores.bm25 };
  if (hit.evidence === 'bm25' && scores.bm25 !== undefined) return { kind: 'bm25', value: scores.bm25 };
  if (scores.vector !== undefined) return { kind: vectorKind, value: scores.vector };
  if (scores.bm25 !== undefined) return { kind: 'bm25', value: scores.bm25 };
  return { kind: 'fused', value: hit.score };
}

/** `cos 0.812`, `p 0.0412`, `bm25 7.20`, `rerank 0.931`: a relevance as the CLI and the web app print it. */
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
