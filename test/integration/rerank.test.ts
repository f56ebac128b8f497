import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadTextEmbedder } from '../../src/embed/text-embedder.js';
import { MmragError } from '../../src/errors.js';
import {
  createCrossEncoderReranker,
  createRemoteReranker,
  relevanceFromLogits,
  rerankEndpoint,
  scoresFromRerankResponse,
} from '../../src/retrieve/rerank.js';
import { tempDir } from '../helpers/fixtures.js';

interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A loopback rerank server: records each request and answers with whatever `respond` says. */
let respond: (body: Record<string, unknown>) => {
  status: number;
  json?: unknown;
  text?: string;
  hang?: boolean;
};
const requests: Recorded[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => {
      raw += chunk;
    });
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const reply = respond(body);
      if (reply.hang) return;
      res.writeHead(reply.status, {
        'content-type': reply.json !== undefined ? 'application/json' : 'text/plain',
      });
      res.end(reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? ''));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  requests.length = 0;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
});

/** Scores documents by how many query words they contain, and answers in the Cohere/Jina shape, best first. */
function wordOverlapResults(body: Record<string, unknown>) {
  const words = String(body.query).toLowerCase().split(/\s+/);
  const docs = (body.documents ?? body.texts) as string[];
  return docs
    .map((doc, index) => ({
      index,
      relevance_score: words.filter((w) => doc.toLowerCase().includes(w)).length / words.length,
    }))
    .sort((a, b) => b.relevance_score - a.relevance_score);
}

const documents = ['Blue circles give orders.', 'A red ring means forbidden.', 'The red octagon means stop.'];

describe('remote reranker against a loopback server', () => {
  it('posts {model, query, documents, top_n} with the key to <base>/rerank and maps results back by index', async () => {
    respond = (body) => ({ status: 200, json: { id: 'r1', results: wordOverlapResults(body) } });
    const reranker = createRemoteReranker({
      url: `${base}/v1/`,
      apiKey: 'sk-test',
      model: 'jina-reranker-v2',
    });
    expect(reranker.id).toBe(`remote:${base}/v1/rerank`);
    const scores = await reranker.score('red stop', documents);
    expect(scores).toEqual([0, 0.5, 1]);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: 'POST', path: '/v1/rerank' });
    expect(requests[0]!.headers.authorization).toBe('Bearer sk-test');
    expect(requests[0]!.headers['content-type']).toBe('application/json');
    expect(requests[0]!.body).toEqual({ model: 'jina-reranker-v2', query: 'red stop', documents, top_n: 3 });
  });

  it('uses a URL already ending in /rerank as given; sends no model or key when none is set', async () => {
    respond = (body) => ({ status: 200, json: { results: wordOverlapResults(body) } });
    await createRemoteReranker({ url: `${base}/api/rerank` }).score('red', documents);
    expect(requests[0]!.path).toBe('/api/rerank');
    expect(requests[0]!.body).toEqual({ query: 'red', documents, top_n: 3 });
    expect(requests[0]!.headers.authorization).toBeUndefined();
  });

  it("reads TEI's bare [{index, score}] array", async () => {
    respond = () => ({
      status: 200,
      json: [
        { index: 2, score: 0.9 },
        { index: 0, score: 0.1 },
        { index: 1, score: 0.4 },
      ],
    });
    expect(await createRemoteReranker({ url: base }).score('q', documents)).toEqual([0.1, 0.4, 0.9]);
    expect(requests[0]!.path).toBe('/rerank');
  });

  it('retries once with "texts" when a TEI server says the field is missing, and keeps that shape', async () => {
    respond = (body) =>
      body.texts
        ? {
            status: 200,
            json: wordOverlapResults(body).map((r) => ({ index: r.index, score: r.relevance_score })),
          }
        : {
            status: 422,
            text: 'Failed to deserialize the JSON body into the target type: missing field `texts`',
          };
    const reranker = createRemoteReranker({ url: base });
    expect(await reranker.score('red stop', documents)).toEqual([0, 0.5, 1]);
    expect(await reranker.score('blue', documents)).toEqual([1, 0, 0]);
    expect(requests.map((r) => Object.keys(r.body).sort().join(','))).toEqual([
      'documents,query,top_n',
      'query,texts,top_n',
      'query,texts,top_n',
    ]);
  });

  it('gives documents the server left out -Infinity, so they rank last', async () => {
    respond = () => ({ status: 200, json: { results: [{ index: 1, relevance_score: 0.7 }] } });
    expect(await createRemoteReranker({ url: base }).score('q', documents)).toEqual([
      Number.NEGATIVE_INFINITY,
      0.7,
      Number.NEGATIVE_INFINITY,
    ]);
  });

  it('sends nothing for no documents', async () => {
    expect(await createRemoteReranker({ url: base }).score('q', [])).toEqual([]);
    expect(requests).toHaveLength(0);
  });

  it('turns HTTP errors into reranker_error without echoing the key', async () => {
    respond = () => ({ status: 401, text: 'invalid api key sk-secret-123' });
    const err = await createRemoteReranker({ url: base, apiKey: 'sk-secret-123' })
      .score('q', documents)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MmragError);
    expect(err).toMatchObject({ code: 'reranker_error', hint: 'Check the rerank API key.' });
    expect((err as Error).message).toContain('HTTP 401');
    expect((err as Error).message).not.toContain('sk-secret-123');

    respond = () => ({ status: 500, text: 'boom' });
    await expect(createRemoteReranker({ url: base }).score('q', documents)).rejects.toMatchObject({
      code: 'reranker_error',
      message: expect.stringContaining('HTTP 500: boom'),
    });
  });

  it('rejects a response it cannot read', async () => {
    respond = () => ({ status: 200, json: { data: [] } });
    await expect(createRemoteReranker({ url: base }).score('q', documents)).rejects.toMatchObject({
      code: 'reranker_error',
      message: expect.stringContaining('neither "results"'),
    });
    respond = () => ({ status: 200, json: { results: [{ index: 7, relevance_score: 1 }] } });
    await expect(createRemoteReranker({ url: base }).score('q', documents)).rejects.toThrow(
      'invalid index 7',
    );
  });

  it('reports an unreachable server and a server that never answers', async () => {
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((ok) => closed.close(ok));
    await expect(
      createRemoteReranker({ url: `http://127.0.0.1:${port}` }).score('q', documents),
    ).rejects.toMatchObject({
      code: 'reranker_unreachable',
      message: expect.stringContaining(`Cannot reach the reranker at http://127.0.0.1:${port}/rerank`),
    });

    respond = () => ({ status: 200, hang: true });
    await expect(
      createRemoteReranker({ url: base, timeoutMs: 300 }).score('q', documents),
    ).rejects.toMatchObject({
      code: 'reranker_unreachable',
      message: expect.stringContaining('did not answer within 300 ms'),
    });
  });

  it('stops when the caller aborts', async () => {
    respond = () => ({ status: 200, hang: true });
    const controller = new AbortController();
    const pending = createRemoteReranker({ url: base }).score('q', documents, controller.signal);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'reranker_unreachable' });
  });
});

describe('rerank helpers', () => {
  it('rerankEndpoint appends /rerank to a base URL and keeps a full endpoint', () => {
    expect(rerankEndpoint('https://api.jina.ai/v1')).toBe('https://api.jina.ai/v1/rerank');
    expect(rerankEndpoint('https://api.cohere.com/v2/')).toBe('https://api.cohere.com/v2/rerank');
    expect(rerankEndpoint('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080/rerank');
    expect(rerankEndpoint('http://h/x/rerank/')).toBe('http://h/x/rerank');
    expect(rerankEndpoint('http://h/v1/rerank?api-version=2')).toBe('http://h/v1/rerank?api-version=2');
    expect(() => rerankEndpoint('not a url')).toThrow(MmragError);
  });

  it('scoresFromRerankResponse accepts relevance_score or score', () => {
    expect(
      scoresFromRerankResponse({ results: [{ index: 0, relevance_score: 0.2, document: { text: 'x' } }] }, 1),
    ).toEqual([0.2]);
    expect(scoresFromRerankResponse([{ index: 0, score: -1.5 }], 1)).toEqual([-1.5]);
    expect(() => scoresFromRerankResponse([{ index: 0 }], 1)).toThrow('no numeric relevance_score');
  });

  it('relevanceFromLogits: sigmoid of one logit, softmax of the last of several', () => {
    const one = relevanceFromLogits({ dims: [2, 1], data: Float32Array.from([0, Math.log(3)]) });
    expect(one[0]).toBeCloseTo(0.5, 6);
    expect(one[1]).toBeCloseTo(0.75, 6);
    const two = relevanceFromLogits({ dims: [1, 2], data: Float32Array.from([0, Math.log(4)]) });
    expect(two[0]).toBeCloseTo(0.8, 6);
  });
});

describe('local models that cannot load give model_unavailable', () => {
  it('a missing local folder, for the text embedder and the cross-encoder', async () => {
    const tmp = tempDir();
    try {
      const missing = join(tmp.dir, 'no-such-model');
      await expect(loadTextEmbedder({ model: missing, allowRemote: false })).rejects.toMatchObject({
        code: 'model_unavailable',
        message: `The text embedding model folder was not found: ${missing}`,
      });
      await expect(
        createCrossEncoderReranker({ model: missing, allowRemote: false }).score('q', ['doc']),
      ).rejects.toMatchObject({
        code: 'model_unavailable',
        message: expect.stringContaining('reranker model folder'),
      });
    } finally {
      tmp.cleanup();
    }
  });

  it('a hub model while offline and not cached (nothing is downloaded)', async () => {
    const tmp = tempDir();
    try {
      const reranker = createCrossEncoderReranker({
        model: 'Xenova/ms-marco-MiniLM-L-6-v2',
        allowRemote: false,
        cacheDir: tmp.dir,
      });
      expect(reranker.id).toBe('cross-encoder:Xenova/ms-marco-MiniLM-L-6-v2');
      const err = await reranker.score('q', ['doc']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MmragError);
      expect(err).toMatchObject({ code: 'model_unavailable' });
      expect((err as MmragError).message).toContain(
        'Cannot load the reranker model Xenova/ms-marco-MiniLM-L-6-v2 (downloads are off',
      );
      expect((err as MmragError).hint).toContain('Allow downloads once');
    } finally {
      tmp.cleanup();
    }
  });
});
