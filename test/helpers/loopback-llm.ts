/**
 * A real HTTP server on 127.0.0.1 that speaks the Ollama and OpenAI chat wire formats, for tests of anything
 * that talks to an LLM (providers, the HTTP API, the CLI). It records every request and answers with a
 * configurable reply split into several streamed chunks, or fails the way real servers fail.
 *
 * Ollama:  POST /api/chat (NDJSON when `stream` is true, one JSON otherwise), GET /api/version, GET /api/tags
 * OpenAI:  POST /v1/chat/completions (SSE `data:` lines ending in `data: [DONE]`, or one JSON), GET /v1/models
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
}

/**
 * How the next chat requests fail:
 * - `model_missing`: 404 as Ollama / OpenAI say when the model is not pulled / does not exist
 * - `images_refused`: the server says the model cannot take image input
 * - `unauthorized`: 401 (the OpenAI message echoes the key it got, as some servers do)
 * - `server_error`: 500 with a plain message
 * - `hang`: accept the request and never answer
 * - `stall`: send the response head and the first chunk, then nothing more
 */
export type LoopbackFailure =
  | 'model_missing'
  | 'images_refused'
  | 'unauthorized'
  | 'server_error'
  | 'hang'
  | 'stall';

export interface LoopbackLlmOptions {
  /** The answer every chat request gets (default: a fixed sentence). */
  reply?: string;
  /** How many streamed chunks the reply is split into (default 4; fewer when the reply is short). */
  chunks?: number;
  /** Pause between streamed chunks, in ms (default 0). */
  chunkDelayMs?: number;
  /** Models the server knows (listed by /api/tags and /v1/models); any other model gets a 404. Default: any. */
  models?: string[];
  /** When set, chat requests need `Authorization: Bearer <apiKey>`, otherwise 401. */
  apiKey?: string;
  /** What GET /api/version reports (default 0.6.2). */
  ollamaVersion?: string;
}

export interface LoopbackLlm {
  /** http://127.0.0.1:PORT (Ollama URL; the OpenAI base URL is `${url}/v1`). */
  url: string;
  requests: RecordedRequest[];
  /** Chat requests only (Ollama and OpenAI), in order. */
  chatRequests(): RecordedRequest[];
  setReply(text: string): void;
  failWith(kind: LoopbackFailure | null): void;
  close(): Promise<void>;
}

export const DEFAULT_LOOPBACK_REPLY =
  'The stop sign is red and octagonal [1]. It appears in the picture [2].';

/** Split text into at most `parts` non-empty pieces at word boundaries; the pieces concatenate to `text`. */
export function splitIntoChunks(text: string, parts: number): string[] {
  const words = text.match(/\S+\s*|\s+/g) ?? [];
  if (words.length === 0) return [];
  const n = Math.max(1, Math.min(parts, words.length));
  const out: string[] = [];
  const per = words.length / n;
  for (let i = 0; i < n; i++) {
    out.push(words.slice(Math.round(i * per), Math.round((i + 1) * per)).join(''));
  }
  return out.filter((piece) => piece.length > 0);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface ChatBody {
  model: string;
  stream: boolean;
  hasImages: boolean;
  includeUsage: boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readChatBody(body: unknown, api: 'ollama' | 'openai'): ChatBody {
  const record = isRecord(body) ? body : {};
  const messages = Array.isArray(record.messages) ? record.messages : [];
  const hasImages = messages.some((message) => {
    if (!isRecord(message)) return false;
    if (api === 'ollama') return Array.isArray(message.images) && message.images.length > 0;
    return (
      Array.isArray(message.content) &&
      message.content.some((part) => isRecord(part) && part.type === 'image_url')
    );
  });
  const streamOptions = isRecord(record.stream_options) ? record.stream_options : {};
  return {
    model: typeof record.model === 'string' ? record.model : '',
    // Ollama streams unless told not to; OpenAI only when asked.
    stream: api === 'ollama' ? record.stream !== false : record.stream === true,
    hasImages,
    includeUsage: streamOptions.include_usage === true,
  };
}

/** Start the server on an ephemeral loopback port. */
export async function startLoopbackLlm(options: LoopbackLlmOptions = {}): Promise<LoopbackLlm> {
  const requests: RecordedRequest[] = [];
  let reply = options.reply ?? DEFAULT_LOOPBACK_REPLY;
  let failure: LoopbackFailure | null = null;
  const chunkCount = options.chunks ?? 4;
  const chunkDelayMs = options.chunkDelayMs ?? 0;
  const models = options.models ?? ['llama3.2-vision:latest'];
  const knowsModel = (model: string) =>
    options.models === undefined || options.models.some((m) => m === model || m === `${model}:latest`);

  const ollamaFailure = (res: ServerResponse, kind: LoopbackFailure, chat: ChatBody): boolean => {
    switch (kind) {
      case 'model_missing':
        sendJson(res, 404, { error: `model "${chat.model}" not found, try pulling it first` });
        return true;
      case 'images_refused':
        sendJson(res, 500, {
          error: 'Failed to create new sequence: this model is missing data required for image input',
        });
        return true;
      case 'unauthorized':
        sendJson(res, 401, { error: 'unauthorized' });
        return true;
      case 'server_error':
        sendJson(res, 500, { error: 'llama runner process has terminated: out of memory' });
        return true;
      default:
        return false;
    }
  };

  const openaiFailure = (
    res: ServerResponse,
    kind: LoopbackFailure,
    chat: ChatBody,
    auth: string,
  ): boolean => {
    const error = (status: number, message: string, type: string, code: string | null) =>
      sendJson(res, status, { error: { message, type, param: null, code } });
    switch (kind) {
      case 'model_missing':
        error(
          404,
          `The model \`${chat.model}\` does not exist or you do not have access to it.`,
          'invalid_request_error',
          'model_not_found',
        );
        return true;
      case 'images_refused':
        error(
          400,
          `The model \`${chat.model}\` does not support image input.`,
          'invalid_request_error',
          null,
        );
        return true;
      case 'unauthorized': {
        const key = auth.replace(/^Bearer\s+/i, '');
        error(401, `Incorrect API key provided: ${key}.`, 'invalid_request_error', 'invalid_api_key');
        return true;
      }
      case 'server_error':
        error(500, 'The server had an error while processing your request.', 'server_error', null);
        return true;
      default:
        return false;
    }
  };

  /** Returns false when the client went away, so a stream can stop early. */
  const streamPieces = async (
    res: ServerResponse,
    pieces: string[],
    frame: (piece: string) => string,
    stallAfterFirst: boolean,
  ): Promise<boolean> => {
    for (const [i, piece] of pieces.entries()) {
      if (res.destroyed) return false;
      res.write(frame(piece));
      if (stallAfterFirst) return false;
      if (chunkDelayMs > 0 && i < pieces.length - 1) await sleep(chunkDelayMs);
    }
    return !res.destroyed;
  };

  const ollamaChat = async (res: ServerResponse, chat: ChatBody): Promise<void> => {
    const createdAt = () => new Date().toISOString();
    const promptEvalCount = 26 + (chat.hasImages ? 1601 : 0);
    const final = (content: string) => ({
      model: chat.model,
      created_at: createdAt(),
      message: { role: 'assistant', content },
      done: true,
      done_reason: 'stop',
      total_duration: 1_234_567,
      load_duration: 12_345,
      prompt_eval_count: promptEvalCount,
      prompt_eval_duration: 123_456,
      eval_count: splitIntoChunks(reply, 1_000_000).length,
      eval_duration: 654_321,
    });
    if (!chat.stream) {
      sendJson(res, 200, final(reply));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const line = (content: string) =>
      `${JSON.stringify({ model: chat.model, created_at: createdAt(), message: { role: 'assistant', content }, done: false })}\n`;
    const finished = await streamPieces(res, splitIntoChunks(reply, chunkCount), line, failure === 'stall');
    if (!finished) return;
    res.end(`${JSON.stringify(final(''))}\n`);
  };

  const openaiChat = async (res: ServerResponse, chat: ChatBody): Promise<void> => {
    const id = `chatcmpl-loopback${requests.length}`;
    const created = Math.floor(Date.now() / 1000);
    const promptTokens = 26 + (chat.hasImages ? 765 : 0);
    const completionTokens = splitIntoChunks(reply, 1_000_000).length;
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    if (!chat.stream) {
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: chat.model,
        choices: [
          { index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop', logprobs: null },
        ],
        usage,
      });
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: chat.model,
        choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
      })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    const finished = await streamPieces(
      res,
      splitIntoChunks(reply, chunkCount),
      (piece) => chunk({ content: piece }, null),
      failure === 'stall',
    );
    if (!finished) return;
    res.write(chunk({}, 'stop'));
    if (chat.includeUsage) {
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: chat.model, choices: [], usage })}\n\n`,
      );
    }
    res.end('data: [DONE]\n\n');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    const body = parseBody(await readBody(req));
    requests.push({ method, path, headers: req.headers, body });
    const auth = req.headers.authorization ?? '';
    const authorized = options.apiKey === undefined || auth === `Bearer ${options.apiKey}`;

    if (method === 'GET' && path === '/api/version') {
      sendJson(res, 200, { version: options.ollamaVersion ?? '0.6.2' });
      return;
    }
    if (method === 'GET' && path === '/api/tags') {
      sendJson(res, 200, {
        models: models.map((name) => ({
          name,
          model: name,
          modified_at: '2025-01-01T00:00:00Z',
          size: 7_900_000_000,
          digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000000',
          details: {
            format: 'gguf',
            family: 'mllama',
            parameter_size: '10.7B',
            quantization_level: 'Q4_K_M',
          },
        })),
      });
      return;
    }
    if (method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'loopback' })),
      });
      return;
    }

    const api = method === 'POST' && path === '/api/chat' ? 'ollama' : undefined;
    const openai = method === 'POST' && path === '/v1/chat/completions' ? 'openai' : undefined;
    const kind = api ?? openai;
    if (kind === undefined) {
      sendJson(
        res,
        404,
        path.startsWith('/v1/') ? { error: { message: `No route ${path}` } } : { error: 'not found' },
      );
      return;
    }
    const chat = readChatBody(body, kind);
    if (failure === 'hang') return; // never answer; close() drops the socket
    let effective: LoopbackFailure | null = failure;
    if (!authorized) effective = 'unauthorized';
    else if (!knowsModel(chat.model)) effective = 'model_missing';
    if (effective !== null) {
      const failed =
        kind === 'ollama' ? ollamaFailure(res, effective, chat) : openaiFailure(res, effective, chat, auth);
      if (failed) return;
    }
    if (kind === 'ollama') await ollamaChat(res, chat);
    else await openaiChat(res, chat);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    chatRequests: () => requests.filter((r) => r.path === '/api/chat' || r.path === '/v1/chat/completions'),
    setReply(text: string) {
      reply = text;
    },
    failWith(kind: LoopbackFailure | null) {
      failure = kind;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
