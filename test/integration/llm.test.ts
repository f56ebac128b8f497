import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MmragError } from '../../src/errors.js';
import { createLanguageModel, probeOllama } from '../../src/generate/create.js';
import type { ChatRequest, LanguageModel } from '../../src/generate/llm.js';
import { buildReferencePrompt } from '../../src/generate/prompt.js';
import { classifyLlmFailure, type LlmEndpoint } from '../../src/generate/providers/errors.js';
import { createOllamaModel } from '../../src/generate/providers/ollama.js';
import { createOpenAICompatibleModel } from '../../src/generate/providers/openai-compatible.js';
import type { Hit } from '../../src/types.js';
import {
  type LoopbackLlm,
  type RecordedRequest,
  splitIntoChunks,
  startLoopbackLlm,
} from '../helpers/loopback-llm.js';

const API_KEY = 'sk-test-0123456789abcdef';
const REPLY = 'A stop sign is a red octagon [1]. The picture shows one [2].';

let server: LoopbackLlm;
let png: Uint8Array;
let jpeg: Uint8Array;

async function makePictures(): Promise<{ png: Uint8Array; jpeg: Uint8Array }> {
  const { default: sharp } = await import('sharp');
  const svg = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">' +
      '<rect width="32" height="32" fill="white"/><polygon points="10,2 22,2 30,10 30,22 22,30 10,30 2,22 2,10" fill="red"/></svg>',
  );
  return {
    png: new Uint8Array(await sharp(svg).png().toBuffer()),
    jpeg: new Uint8Array(await sharp(svg).jpeg().toBuffer()),
  };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const delta of stream) out.push(delta);
  return out;
}

async function failure(model: LanguageModel, request: ChatRequest): Promise<MmragError> {
  try {
    await collect(model.stream(request));
  } catch (err) {
    if (err instanceof MmragError) return err;
    throw err;
  }
  throw new Error('expected the stream to fail');
}

const hits = {
  text: [
    {
      id: 't1',
      modality: 'text',
      score: 0.6,
      similarity: 0.31,
      title: 'Traffic signs',
      section: 'Stop',
      source: '/kb/signs.html',
      type: 'html',
      text: 'A stop sign is a red octagon.',
    },
  ] satisfies Hit[],
  images: [
    {
      id: 'i1',
      modality: 'image',
      score: 0.5,
      similarity: 0.28,
      title: 'Traffic signs',
      section: 'Stop',
      source: '/kb/signs.html',
      type: 'html',
      caption: 'A stop sign',
      image: '/kb/.mmrag/media/i1.png',
    },
  ] satisfies Hit[],
};

const prompt = buildReferencePrompt('What colour is a stop sign?', hits.text, hits.images);

function withImages(): ChatRequest {
  return {
    messages: [
      { role: 'system', content: 'You answer from the given sources.' },
      {
        role: 'user',
        content: prompt,
        images: [
          { bytes: png, mime: 'image/png' },
          { bytes: jpeg, mime: 'image/jpeg' },
        ],
      },
    ],
  };
}

const textOnly: ChatRequest = { messages: [{ role: 'user', content: 'Say hello.' }] };

function lastChat(): RecordedRequest {
  const chats = server.chatRequests();
  const last = chats[chats.length - 1];
  if (!last) throw new Error('no chat request was recorded');
  return last;
}

type Json = Record<string, unknown>;
const asRecord = (value: unknown): Json => value as Json;

beforeAll(async () => {
  ({ png, jpeg } = await makePictures());
  server = await startLoopbackLlm({ reply: REPLY, chunks: 5 });
});

afterAll(async () => {
  await server.close();
});

beforeEach(() => {
  server.failWith(null);
  server.setReply(REPLY);
});

const ollama = () => createOllamaModel({ url: server.url, model: 'llama3.2-vision', timeoutMs: 10_000 });
const openai = (apiKey: string | undefined = API_KEY) =>
  createOpenAICompatibleModel({ url: `${server.url}/v1`, model: 'gpt-4o-mini', apiKey, timeoutMs: 10_000 });

describe('Ollama provider against a loopback Ollama', () => {
  it('sends the prompt and the pictures as base64 and streams several deltas', async () => {
    const before = server.chatRequests().length;
    const deltas = await collect(ollama().stream(withImages()));
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(deltas.join('')).toBe(REPLY);
    expect(deltas).toEqual(splitIntoChunks(REPLY, 5));

    expect(server.chatRequests().length).toBe(before + 1);
    const request = lastChat();
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/api/chat');
    const body = asRecord(request.body);
    expect(body.model).toBe('llama3.2-vision');
    expect(body.stream).toBe(true);
    const messages = body.messages as Json[];
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatchObject({ role: 'system', content: 'You answer from the given sources.' });
    expect(messages[1]?.role).toBe('user');
    expect(messages[1]?.content).toBe(prompt);
    const images = messages[1]?.images as unknown[];
    expect(images).toHaveLength(2);
    expect(images.every((image) => typeof image === 'string')).toBe(true);
    expect(Buffer.from(images[0] as string, 'base64').equals(Buffer.from(png))).toBe(true);
    expect(Buffer.from(images[1] as string, 'base64').equals(Buffer.from(jpeg))).toBe(true);
  });

  it('sends plain text messages without images and passes temperature as an Ollama option', async () => {
    const model = createOllamaModel({
      url: server.url,
      model: 'llama3.2-vision',
      temperature: 0.2,
      timeoutMs: 10_000,
    });
    expect((await collect(model.stream(textOnly))).join('')).toBe(REPLY);
    const body = asRecord(lastChat().body);
    expect(body.messages).toEqual([{ role: 'user', content: 'Say hello.' }]);
    expect(asRecord(body.options).temperature).toBe(0.2);
  });

  it('maps a missing model to llm_model_missing with the pull command', async () => {
    server.failWith('model_missing');
    const err = await failure(ollama(), withImages());
    expect(err.code).toBe('llm_model_missing');
    expect(err.message).toContain('not found');
    expect(err.hint).toContain('ollama pull llama3.2-vision');
  });

  it('maps a model that refuses pictures to llm_images_refused', async () => {
    server.failWith('images_refused');
    const err = await failure(ollama(), withImages());
    expect(err.code).toBe('llm_images_refused');
    expect(err.message).toContain('missing data required for image input');
    expect(err.hint).toContain('llama3.2-vision');
  });

  it('maps 401 to llm_auth and a server failure to llm_error with its message', async () => {
    server.failWith('unauthorized');
    expect((await failure(ollama(), textOnly)).code).toBe('llm_auth');
    server.failWith('server_error');
    const err = await failure(ollama(), textOnly);
    expect(err.code).toBe('llm_error');
    expect(err.message).toContain('HTTP 500');
    expect(err.message).toContain('out of memory');
  });

  it('gives llm_unreachable with the URL and the way out when nothing listens', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const err = await failure(
      createOllamaModel({ url, model: 'llama3.2-vision', timeoutMs: 10_000 }),
      textOnly,
    );
    expect(err.code).toBe('llm_unreachable');
    expect(err.message).toContain(`Could not reach Ollama at ${url}`);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.hint).toBe('Start it with `ollama serve`, pass --llm-url, or --llm none.');
  });

  it('gives llm_unreachable when the server accepts but never answers, after the idle timeout', async () => {
    server.failWith('hang');
    const model = createOllamaModel({ url: server.url, model: 'llama3.2-vision', timeoutMs: 300 });
    const err = await failure(model, textOnly);
    expect(err.code).toBe('llm_unreachable');
    expect(err.message).toContain('within 0.3 s');
  });

  it('gives llm_unreachable when a stream stalls after its first chunk', async () => {
    server.failWith('stall');
    const model = createOllamaModel({ url: server.url, model: 'llama3.2-vision', timeoutMs: 1000 });
    const deltas: string[] = [];
    let caught: unknown;
    try {
      for await (const delta of model.stream(textOnly)) deltas.push(delta);
    } catch (err) {
      caught = err;
    }
    expect(deltas.join('')).toBe(splitIntoChunks(REPLY, 5)[0]);
    expect(caught).toBeInstanceOf(MmragError);
    expect((caught as MmragError).code).toBe('llm_unreachable');
  });

  it('stops cleanly when the consumer stops early, and the server keeps serving', async () => {
    const slow = await startLoopbackLlm({ reply: REPLY, chunks: 5, chunkDelayMs: 100 });
    try {
      const model = createOllamaModel({ url: slow.url, model: 'llama3.2-vision', timeoutMs: 10_000 });
      const first: string[] = [];
      for await (const delta of model.stream(textOnly)) {
        first.push(delta);
        break;
      }
      expect(first).toEqual([splitIntoChunks(REPLY, 5)[0]]);
      expect((await collect(model.stream(textOnly))).join('')).toBe(REPLY);
    } finally {
      await slow.close();
    }
  });

  it("rethrows the caller's abort reason unchanged", async () => {
    server.failWith('hang');
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const model = createOllamaModel({ url: server.url, model: 'llama3.2-vision', timeoutMs: 60_000 });
    const pending = collect(model.stream({ ...textOnly, signal: controller.signal }));
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });
});

describe('OpenAI-compatible provider against a loopback chat-completions server', () => {
  it('sends the prompt and the pictures as data URLs with the key, and streams several deltas', async () => {
    const deltas = await collect(openai().stream(withImages()));
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(deltas.join('')).toBe(REPLY);

    const request = lastChat();
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    const body = asRecord(request.body);
    expect(body.model).toBe('gpt-4o-mini');
    expect(body.stream).toBe(true);
    const messages = body.messages as Json[];
    expect(messages[0]).toEqual({ role: 'system', content: 'You answer from the given sources.' });
    const parts = messages[1]?.content as Json[];
    expect(parts[0]).toEqual({ type: 'text', text: prompt });
    const urls = parts.slice(1).map((part) => {
      expect(part.type).toBe('image_url');
      return asRecord(part.image_url).url as string;
    });
    expect(urls).toEqual([
      `data:image/png;base64,${Buffer.from(png).toString('base64')}`,
      `data:image/jpeg;base64,${Buffer.from(jpeg).toString('base64')}`,
    ]);
  });

  it('sends no Authorization header without a key, and passes temperature', async () => {
    const model = createOpenAICompatibleModel({
      url: `${server.url}/v1/`,
      model: 'm',
      temperature: 0.3,
      timeoutMs: 10_000,
    });
    expect((await collect(model.stream(textOnly))).join('')).toBe(REPLY);
    const request = lastChat();
    expect(request.headers.authorization).toBeUndefined();
    expect(request.path).toBe('/v1/chat/completions');
    const body = asRecord(request.body);
    expect(body.temperature).toBe(0.3);
    expect(body.messages).toEqual([{ role: 'user', content: 'Say hello.' }]);
  });

  it('maps model_not_found to llm_model_missing', async () => {
    server.failWith('model_missing');
    const err = await failure(openai(), withImages());
    expect(err.code).toBe('llm_model_missing');
    expect(err.message).toContain('gpt-4o-mini');
    expect(err.hint).toContain('--llm-model');
  });

  it('maps "does not support image input" to llm_images_refused', async () => {
    server.failWith('images_refused');
    const err = await failure(openai(), withImages());
    expect(err.code).toBe('llm_images_refused');
    expect(err.message).toContain('does not support image input');
  });

  it('maps 401 to llm_auth without ever showing the key the server echoed', async () => {
    server.failWith('unauthorized');
    const err = await failure(openai(), textOnly);
    expect(err.code).toBe('llm_auth');
    expect(err.hint).toContain('MMRAG_LLM_API_KEY');
    expect(err.message).toContain('Incorrect API key provided');
    expect(`${err.message}\n${err.hint}\n${err.stack}`).not.toContain(API_KEY);
    expect(err.cause).toBeUndefined();
  });

  it('enforces the key when the server requires one', async () => {
    const guarded = await startLoopbackLlm({ apiKey: API_KEY, reply: 'ok then' });
    try {
      const good = createOpenAICompatibleModel({
        url: `${guarded.url}/v1`,
        model: 'm',
        apiKey: API_KEY,
        timeoutMs: 10_000,
      });
      expect((await collect(good.stream(textOnly))).join('')).toBe('ok then');
      const bad = createOpenAICompatibleModel({
        url: `${guarded.url}/v1`,
        model: 'm',
        apiKey: 'sk-wrong-key-42',
        timeoutMs: 10_000,
      });
      const err = await failure(bad, textOnly);
      expect(err.code).toBe('llm_auth');
      expect(err.message).not.toContain('sk-wrong-key-42');
    } finally {
      await guarded.close();
    }
  });

  it('maps a 500 to llm_error and a wrong base URL (404 without a model message) to llm_error with a /v1 hint', async () => {
    server.failWith('server_error');
    const err = await failure(openai(), textOnly);
    expect(err.code).toBe('llm_error');
    expect(err.message).toContain('The server had an error');
    server.failWith(null);
    const noV1 = createOpenAICompatibleModel({ url: server.url, model: 'm', timeoutMs: 10_000 });
    const wrong = await failure(noV1, textOnly);
    expect(wrong.code).toBe('llm_error');
    expect(wrong.hint).toContain('/v1');
  });

  it('gives llm_unreachable when nothing listens, naming the URL but not the key', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    const model = createOpenAICompatibleModel({ url, model: 'm', apiKey: API_KEY, timeoutMs: 10_000 });
    const err = await failure(model, textOnly);
    expect(err.code).toBe('llm_unreachable');
    expect(err.message).toContain(url);
    expect(`${err.message}${err.hint}`).not.toContain(API_KEY);
  });

  it('gives llm_unreachable when the server hangs', async () => {
    server.failWith('hang');
    const model = createOpenAICompatibleModel({ url: `${server.url}/v1`, model: 'm', timeoutMs: 300 });
    expect((await failure(model, textOnly)).code).toBe('llm_unreachable');
  });
});

describe('the loopback server', () => {
  it('answers non-streaming requests in both formats and lists models', async () => {
    const ollamaRes = await fetch(`${server.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({
        model: 'llama3.2-vision',
        stream: false,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    const ollamaJson = asRecord(await ollamaRes.json());
    expect(ollamaJson.done).toBe(true);
    expect(ollamaJson.done_reason).toBe('stop');
    expect(asRecord(ollamaJson.message).content).toBe(REPLY);

    const openaiRes = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const openaiJson = asRecord(await openaiRes.json());
    expect(openaiJson.object).toBe('chat.completion');
    const choice = (openaiJson.choices as Json[])[0];
    expect(asRecord(choice?.message).content).toBe(REPLY);

    const tags = asRecord(await (await fetch(`${server.url}/api/tags`)).json());
    expect((tags.models as Json[])[0]?.name).toBe('llama3.2-vision:latest');
    const models = asRecord(await (await fetch(`${server.url}/v1/models`)).json());
    expect(models.object).toBe('list');
  });

  it('streams OpenAI SSE ending in [DONE] and Ollama NDJSON ending in done:true', async () => {
    server.setReply('one two three four five six');
    const sse = await (
      await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ model: 'm', stream: true, messages: [] }),
      })
    ).text();
    const events = sse.split('\n\n').filter((e) => e !== '');
    expect(events[events.length - 1]).toBe('data: [DONE]');
    const content = events
      .slice(0, -1)
      .map((e) => asRecord(JSON.parse(e.replace(/^data: /, ''))))
      .map((chunk) => asRecord((chunk.choices as Json[])[0]?.delta).content ?? '')
      .join('');
    expect(content).toBe('one two three four five six');

    const ndjson = await (
      await fetch(`${server.url}/api/chat`, {
        method: 'POST',
        body: JSON.stringify({ model: 'x', messages: [] }),
      })
    ).text();
    const lines = ndjson
      .trim()
      .split('\n')
      .map((line) => asRecord(JSON.parse(line)));
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.slice(0, -1).every((line) => line.done === false)).toBe(true);
    expect(lines[lines.length - 1]).toMatchObject({ done: true, done_reason: 'stop' });
    expect(lines.map((line) => asRecord(line.message).content).join('')).toBe('one two three four five six');
  });

  it('knows only the models it was given when a list is set', async () => {
    const picky = await startLoopbackLlm({ models: ['llava:latest'] });
    try {
      const ok = createOllamaModel({ url: picky.url, model: 'llava', timeoutMs: 10_000 });
      expect((await collect(ok.stream(textOnly))).length).toBeGreaterThan(0);
      const missing = createOllamaModel({ url: picky.url, model: 'llama3.2-vision', timeoutMs: 10_000 });
      expect((await failure(missing, textOnly)).code).toBe('llm_model_missing');
    } finally {
      await picky.close();
    }
  });
});

describe('probeOllama and createLanguageModel', () => {
  const llm = (over: Partial<Parameters<typeof createLanguageModel>[0]>) => ({
    provider: 'auto' as const,
    timeoutMs: 10_000,
    ...over,
  });

  it('probeOllama is true for a live Ollama and false for a closed port or a non-Ollama server', async () => {
    expect(await probeOllama(server.url)).toBe(true);
    expect(await probeOllama(`http://127.0.0.1:${await closedPort()}`)).toBe(false);
    expect(await probeOllama(`${server.url}/v1`)).toBe(false);
  });

  it('probeOllama is false when the server accepts the connection but never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => {
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      expect(await probeOllama(`http://127.0.0.1:${port}`, 200)).toBe(false);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('auto picks Ollama when it answers and nothing when it does not', async () => {
    const model = await createLanguageModel(llm({ url: server.url }));
    expect(model?.provider).toBe('ollama');
    expect(model?.model).toBe('llama3.2-vision');
    expect((await collect(model!.stream(textOnly))).join('')).toBe(REPLY);
    expect(await createLanguageModel(llm({ url: `http://127.0.0.1:${await closedPort()}` }))).toBeUndefined();
  });

  it('none gives no model; ollama and openai give their defaults', async () => {
    expect(await createLanguageModel(llm({ provider: 'none' }))).toBeUndefined();
    const o = await createLanguageModel(llm({ provider: 'ollama' }));
    expect([o?.provider, o?.model]).toEqual(['ollama', 'llama3.2-vision']);
    const a = await createLanguageModel(llm({ provider: 'openai' }));
    expect([a?.provider, a?.model]).toEqual(['openai', 'gpt-4o-mini']);
  });

  it('openai with a URL, model and key talks to that server with that key', async () => {
    const model = await createLanguageModel(
      llm({
        provider: 'openai',
        url: `${server.url}/v1`,
        model: 'qwen2-vl',
        apiKey: API_KEY,
        temperature: 0.1,
      }),
    );
    expect((await collect(model!.stream(textOnly))).join('')).toBe(REPLY);
    const request = lastChat();
    expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(asRecord(request.body).model).toBe('qwen2-vl');
    expect(asRecord(request.body).temperature).toBe(0.1);
  });
});

describe('classifyLlmFailure on messages other servers send', () => {
  const ollamaEndpoint: LlmEndpoint = {
    provider: 'ollama',
    url: 'http://127.0.0.1:11434',
    model: 'llava',
    timeoutMs: 1000,
  };
  const openaiEndpoint: LlmEndpoint = {
    provider: 'openai',
    url: 'http://user:pw@127.0.0.1:8000/v1',
    model: 'm',
    apiKey: 'sk-secret-xyz',
    timeoutMs: 1000,
  };
  const cases: Array<[LlmEndpoint, number, string, string]> = [
    [ollamaEndpoint, 500, '{"error":"model does not support images"}', 'llm_images_refused'],
    [
      openaiEndpoint,
      400,
      '{"object":"error","message":"m is not a multimodal model","type":"BadRequestError","code":400}',
      'llm_images_refused',
    ],
    [
      openaiEndpoint,
      400,
      '{"error":{"message":"Invalid content type. image_url is only supported by certain models."}}',
      'llm_images_refused',
    ],
    [openaiEndpoint, 400, '{"error":"Vision is not supported for this model"}', 'llm_images_refused'],
    [
      ollamaEndpoint,
      404,
      '{"error":"model \\"llama3.2-vision\\" not found, try pulling it first"}',
      'llm_model_missing',
    ],
    [openaiEndpoint, 400, '{"error":{"message":"bad model","code":"model_not_found"}}', 'llm_model_missing'],
    [openaiEndpoint, 403, '{"error":{"message":"Project does not have access"}}', 'llm_auth'],
    [openaiEndpoint, 429, '{"error":{"message":"Rate limit reached"}}', 'llm_error'],
    [openaiEndpoint, 502, '<html>Bad Gateway</html>', 'llm_error'],
  ];
  it.each(
    cases.map(([endpoint, statusCode, responseBody, code]) => ({
      endpoint,
      statusCode,
      responseBody,
      code,
      server: endpoint.provider,
    })),
  )('$server HTTP $statusCode $responseBody -> $code', ({ endpoint, statusCode, responseBody, code }) => {
    const err = classifyLlmFailure({ statusCode, responseBody, message: 'Bad Request' }, endpoint);
    expect(err.code).toBe(code);
    expect(err.hint).toBeTruthy();
  });

  it('reads network codes, hides credentials in the URL and the key in server messages', () => {
    const unreachable = classifyLlmFailure({ message: 'x', networkCode: 'ENOTFOUND' }, openaiEndpoint);
    expect(unreachable.code).toBe('llm_unreachable');
    expect(unreachable.message).toBe(
      'Could not reach the OpenAI-compatible server at http://127.0.0.1:8000/v1 (ENOTFOUND).',
    );
    const echoed = classifyLlmFailure(
      {
        statusCode: 401,
        responseBody: '{"error":{"message":"Incorrect API key provided: sk-secret-xyz"}}',
        message: '',
      },
      openaiEndpoint,
    );
    expect(echoed.message).toContain('Incorrect API key provided: ***');
    expect(echoed.message).not.toContain('sk-secret-xyz');
    expect(echoed.message).not.toContain('pw@');
  });
});
