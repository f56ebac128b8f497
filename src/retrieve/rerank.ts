import type { Config } from '../config.js';
import { loadModel, modelLoadError } from '../embed/model-source.js';
import { errorMessage, MmragError } from '../errors.js';
import { displayUrl, redactAndClip } from '../redact.js';

/**
 * Scores documents against a query, to reorder fused search candidates. Higher = more relevant; one score per
 * document, in the order given.
 */
export interface Reranker {
  /** `cross-encoder:<model>` or `remote:<url>`, for reports. */
  readonly id: string;
  score(query: string, documents: string[], signal?: AbortSignal): Promise<number[]>;
}

/** A small MS MARCO cross-encoder converted for Transformers.js (22 M parameters). */
export const DEFAULT_RERANK_MODEL = 'Xenova/ms-marco-MiniLM-L-6-v2';

export interface CrossEncoderOptions {
  /** Hub id or local folder (config.json, tokenizer.json, onnx/model.onnx). */
  model: string;
  dtype?: string;
  cacheDir?: string;
  allowRemote: boolean;
  /** Query-document pairs per forward pass (default 16). */
  batchSize?: number;
}

interface LogitsTensor {
  dims: number[];
  data: Float32Array;
}
type Tokenize = (
  queries: string[],
  options: { text_pair: string[]; padding: boolean; truncation: boolean },
) => Record<string, unknown>;
type Classify = (inputs: Record<string, unknown>) => Promise<{ logits: LogitsTensor }>;

/**
 * The relevance of each row of a classifier's logits: with one label (MS MARCO cross-encoders, bge-reranker)
 * the sigmoid of the logit; with several, the softmax probability of the last label ("relevant").
 * Both are monotone in the model's own score and land in [0, 1].
 */
export function relevanceFromLogits(logits: LogitsTensor): number[] {
  const [n, labels] = logits.dims as [number, number];
  const out: number[] = [];
  for (let r = 0; r < n; r++) {
    const row = logits.data.subarray(r * labels, (r + 1) * labels);
    if (labels === 1) {
      out.push(1 / (1 + Math.exp(-row[0]!)));
      continue;
    }
    const max = Math.max(...row);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    out.push(Math.exp(row[labels - 1]! - max) / sum);
  }
  return out;
}

/**
 * A cross-encoder through Transformers.js (AutoTokenizer + AutoModelForSequenceClassification on
 * (query, document) pairs). The model is loaded on the first `score` call; a model that cannot be loaded
 * (offline and not cached, bad folder) fails that call with MmragError `model_unavailable`, and the next call
 * tries again.
 */
export function createCrossEncoderReranker(options: CrossEncoderOptions): Reranker {
  const what = 'reranker model';
  const batchSize = options.batchSize ?? 16;
  let loading: Promise<{ tokenize: Tokenize; classify: Classify }> | undefined;

  const load = async () => {
    const { AutoTokenizer, AutoModelForSequenceClassification } = await import('@huggingface/transformers');
    return loadModel(options, what, async (id, folder) => {
      try {
        const [tokenizer, model] = await Promise.all([
          AutoTokenizer.from_pretrained(id),
          AutoModelForSequenceClassification.from_pretrained(
            id,
            options.dtype ? { dtype: options.dtype as 'fp32' } : {},
          ),
        ]);
        return { tokenize: tokenizer as unknown as Tokenize, classify: model as unknown as Classify };
      } catch (err) {
        throw modelLoadError(what, options.model, folder, options.allowRemote, err);
      }
    });
  };

  return {
    id: `cross-encoder:${options.model}`,
    async score(query, documents, signal) {
      if (documents.length === 0) return [];
      loading ??= load();
      loading.catch(() => {
        loading = undefined;
      });
      const { tokenize, classify } = await loading;
      const scores: number[] = [];
      for (let i = 0; i < documents.length; i += batchSize) {
        signal?.throwIfAborted();
        const batch = documents.slice(i, i + batchSize);
        const inputs = tokenize(
          batch.map(() => query),
          { text_pair: batch, padding: true, truncation: true },
        );
        scores.push(...relevanceFromLogits((await classify(inputs)).logits));
      }
      return scores;
    },
  };
}

export interface RemoteRerankerOptions {
  /** A base URL (`https://api.jina.ai/v1`, `http://127.0.0.1:8080`) or the full `…/rerank` endpoint. */
  url: string;
  apiKey?: string;
  model?: string;
  /** Per request (default 30 000 ms). */
  timeoutMs?: number;
}

/**
 * The endpoint to post to: a URL whose path already ends in `/rerank` is used as given; any other URL is a
 * base and gets `/rerank` appended (`https://api.jina.ai/v1` -> `https://api.jina.ai/v1/rerank`,
 * `https://api.cohere.com/v2` -> `…/v2/rerank`, a TEI server `http://host:8080` -> `http://host:8080/rerank`).
 */
export function rerankEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MmragError(
      `The rerank URL "${url}" is not a valid URL.`,
      'Give http(s)://host[:port][/v1] or the full …/rerank endpoint.',
      'usage',
    );
  }
  const path = parsed.pathname.replace(/\/+$/, '');
  if (!/\/rerank$/i.test(path)) parsed.pathname = `${path}/rerank`;
  else parsed.pathname = path;
  return parsed.toString();
}

/**
 * Scores per document from a rerank response: `{"results": [{"index", "relevance_score"}]}` (Cohere, Jina,
 * vLLM, Infinity, LiteLLM) or a bare `[{"index", "score"}]` (Hugging Face TEI). Documents the server left out
 * (a `top_n` it capped) get -Infinity, so they rank last.
 */
export function scoresFromRerankResponse(body: unknown, count: number): number[] {
  const entries = Array.isArray(body)
    ? body
    : typeof body === 'object' && body !== null && Array.isArray((body as { results?: unknown }).results)
      ? (body as { results: unknown[] }).results
      : undefined;
  if (!entries) throw new Error('the response has neither "results" nor a list of scores');
  const scores = new Array<number>(count).fill(Number.NEGATIVE_INFINITY);
  for (const entry of entries) {
    const { index, relevance_score, score } = (entry ?? {}) as Record<string, unknown>;
    const value = typeof relevance_score === 'number' ? relevance_score : score;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count)
      throw new Error(
        `a result has an invalid index ${JSON.stringify(index)} (${count} documents were sent)`,
      );
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new Error(`the result for document ${index} has no numeric relevance_score or score`);
    scores[index] = value;
  }
  return scores;
}

function redact(text: string, secret: string | undefined): string {
  return redactAndClip(text, [secret], 300);
}

/**
 * A rerank API speaking the common request shape `{"model", "query", "documents", "top_n"}`
 * (Cohere, Jina, Voyage, vLLM, Infinity, LiteLLM). Hugging Face TEI's own `/rerank` takes `texts` instead of
 * `documents`: when a server answers 4xx and names the missing `texts` field, the request is sent once more
 * with `texts`, and that shape is kept for later calls.
 */
export function createRemoteReranker(options: RemoteRerankerOptions): Reranker {
  const endpoint = rerankEndpoint(options.url);
  const timeoutMs = options.timeoutMs ?? 30_000;
  let field: 'documents' | 'texts' = 'documents';

  const post = async (query: string, documents: string[], signal: AbortSignal) => {
    const payload: Record<string, unknown> = { query, [field]: documents, top_n: documents.length };
    if (options.model) payload.model = options.model;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    try {
      return await fetch(endpoint, { method: 'POST', headers, body: JSON.stringify(payload), signal });
    } catch (err) {
      const timedOut = signal.aborted && (signal.reason as Error | undefined)?.name === 'TimeoutError';
      throw new MmragError(
        timedOut
          ? `The reranker at ${displayUrl(endpoint)} did not answer within ${timeoutMs} ms.`
          : `Cannot reach the reranker at ${displayUrl(endpoint)}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`,
        'Check the rerank URL and that the server is running, or turn reranking off.',
        'reranker_unreachable',
        { cause: err },
      );
    }
  };

  return {
    id: `remote:${displayUrl(endpoint)}`,
    async score(query, documents, signal) {
      if (documents.length === 0) return [];
      const timeout = AbortSignal.timeout(timeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      let res = await post(query, documents, combined);
      if (res.status >= 400 && res.status < 500 && field === 'documents') {
        const text = await res.text();
        if (!/\btexts\b/.test(text)) return failed(res.status, text);
        field = 'texts';
        res = await post(query, documents, combined);
      }
      if (!res.ok) return failed(res.status, await res.text());
      let body: unknown;
      try {
        body = await res.json();
        return scoresFromRerankResponse(body, documents.length);
      } catch (err) {
        throw new MmragError(
          `The reranker at ${displayUrl(endpoint)} sent a response mmrag cannot read: ${errorMessage(err)}`,
          'mmrag reads {"results": [{"index", "relevance_score"}]} or [{"index", "score"}].',
          'reranker_error',
          { cause: err },
        );
      }
    },
  };

  function failed(status: number, text: string): never {
    throw new MmragError(
      `The reranker at ${displayUrl(endpoint)} answered HTTP ${status}: ${redact(text, options.apiKey)}`,
      status === 401 || status === 403
        ? 'Check the rerank API key.'
        : 'Check the rerank URL and model name, or turn reranking off.',
      'reranker_error',
    );
  }
}

/** The reranker the configuration (`search.rerank`) names; undefined for `none`. */
export function createConfiguredReranker(
  rerank: Config['search']['rerank'],
  embed: Config['embed'],
): Reranker | undefined {
  if (rerank.provider === 'none') return undefined;
  if (rerank.provider === 'remote') {
    if (!rerank.url) {
      throw new MmragError(
        'The remote reranker needs a URL.',
        'Set search.rerank.url (or MMRAG_RERANK_URL).',
        'invalid_config',
      );
    }
    return createRemoteReranker({ url: rerank.url, apiKey: rerank.apiKey, model: rerank.model });
  }
  return createCrossEncoderReranker({
    model: rerank.model ?? DEFAULT_RERANK_MODEL,
    cacheDir: embed.cacheDir,
    allowRemote: embed.allowRemote,
  });
}
