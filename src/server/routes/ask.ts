import { createRoute } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AskOptions, AskResult } from '../../kb.js';
import {
  type AskDone,
  type AskPrompt,
  type AttachedPicture,
  askBodySchema,
  askEventSchema,
  askResultSchema,
  type AskResult as WireAskResult,
} from '../contract.js';
import { errorBody, httpError, parseRequest } from '../http-errors.js';
import { allowedOverride } from '../llm-policy.js';
import { searchOptionsOf } from '../search-options.js';
import { sseResponse } from '../sse.js';
import { hitView, mediaUrl } from '../views.js';
import {
  bodyReadByHandler,
  errorResponses,
  type RouteContext,
  readJson,
  routeGroup,
  wantsEventStream,
} from './context.js';

const ask = createRoute({
  method: 'post',
  path: '/api/ask',
  tags: ['ask'],
  operationId: 'ask',
  summary:
    'Answer a question from the retrieved text and pictures (with Accept: text/event-stream, streamed)',
  description:
    'Invalid options (a `where` that does not parse, rerank without a reranker, a provider or model the server does not offer) are a 400 before any stream starts.',
  middleware: [
    bodyLimit({
      maxSize: 4 * 1024 * 1024,
      onError: () => {
        throw httpError('too_large', 'The question and history are over 4 MB.');
      },
    }),
  ],
  request: { body: { required: true, content: { 'application/json': { schema: askBodySchema } } } },
  responses: {
    200: {
      description:
        'the answer and its numbered sources; without any model, the sources and an error saying no model answered',
      content: {
        'application/json': { schema: askResultSchema },
        'text/event-stream': { schema: askEventSchema },
      },
    },
    ...errorResponses({ 400: true, 413: 'The question and history are over 4 MB.' }),
  },
});

const attachedView = (attached: AskResult['attached']): AttachedPicture[] =>
  attached.map((a) => ({ id: a.id, path: a.path, mediaUrl: mediaUrl(a.id) }));

function wireResult(result: AskResult): WireAskResult {
  return {
    question: result.question,
    answer: result.answer,
    sources: result.sources.map(hitView),
    model: result.model,
    citations: result.citations,
    level: result.level,
    answerable: result.answerable,
    ...(result.answerability ? { answerability: result.answerability } : {}),
    ...(result.error ? { error: result.error } : {}),
    prompt: result.prompt,
    attached: attachedView(result.attached),
  };
}

/**
 * Why no model answered, in the words of an HTTP API: the facade's text names command-line flags, which a client
 * of this server cannot pass.
 */
function noModelForApi(result: AskResult, turnedOff: boolean): void {
  if (result.error?.code !== 'llm_none') return;
  result.error = turnedOff
    ? {
        code: 'llm_none',
        message: 'No language model answered: answering is turned off for this question (provider none).',
      }
    : result.error.message.includes('turned off')
      ? {
          code: 'llm_none',
          message: 'No language model answered: answering is turned off on this server (llm.provider none).',
          hint: 'The sources are the answer. The operator can configure a model (llm.provider, llm.url).',
        }
      : {
          code: 'llm_none',
          message: result.error.message,
          hint: 'Start the model server the operator configured (for Ollama: ollama serve; ollama pull llama3.2-vision), or ask the operator to configure another (llm.provider, llm.url).',
        };
}

/** Questions: answered whole (JSON) or streamed (Server-Sent Events: sources first, then the answer). */
export function askRoutes(ctx: RouteContext) {
  const { kb } = ctx;
  const app = routeGroup();

  app.openapi(bodyReadByHandler(app, ask), async (c) => {
    const body = parseRequest(askBodySchema, await readJson(c));
    const opts = searchOptionsOf(body, kb.config);
    const llmConfig = allowedOverride(body.llm, ctx.answering);
    const run = async (
      signal: AbortSignal | undefined,
      stream?: { onToken: (piece: string) => void; onRetrieved: AskOptions['onRetrieved'] },
    ) => {
      const askOptions: AskOptions = {
        ...opts,
        ...(body.history?.length ? { history: body.history } : {}),
        ...(body.gate === false ? { gate: false } : {}),
        ...(llmConfig ? { llmConfig } : {}),
        ...(body.prompt ? { prompt: body.prompt } : {}),
        ...(signal ? { signal } : {}),
        ...(stream ? { onToken: stream.onToken, onRetrieved: stream.onRetrieved } : {}),
      };
      const result = await kb.ask(body.question, askOptions);
      noModelForApi(result, llmConfig?.provider === 'none');
      return result;
    };
    if (!wantsEventStream(c)) return c.json(wireResult(await run(c.req.raw.signal)), 200);
    return sseResponse(async (send, signal) => {
      let sourcesSent = false;
      try {
        const result = await run(signal, {
          onToken: (piece) => send('token', piece),
          onRetrieved: (retrieved) => {
            sourcesSent = true;
            send('sources', JSON.stringify(retrieved.sources.map(hitView)));
            const prompt: AskPrompt = {
              prompt: retrieved.prompt,
              attached: attachedView(retrieved.attached),
              level: retrieved.level,
              willAnswer: retrieved.willAnswer,
            };
            send('prompt', JSON.stringify(prompt));
          },
        });
        if (signal.aborted) return;
        const view = wireResult(result);
        if (!sourcesSent) send('sources', JSON.stringify(view.sources));
        const done: AskDone = {
          model: view.model,
          citations: view.citations,
          answer: view.answer,
          level: view.level,
          answerable: view.answerable,
          ...(view.error ? { error: view.error } : {}),
        };
        send('done', JSON.stringify(done));
      } catch (err) {
        send('error', JSON.stringify(errorBody(err, ctx.hidePaths).body.error));
      }
    }, c.req.raw.signal);
  });
  return app;
}
