import { createRoute } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AskOptions, AskResult } from '../../kb.js';
import {
  type AskDone,
  askBodySchema,
  askEventSchema,
  askResultSchema,
  type AskResult as WireAskResult,
} from '../contract.js';
import { errorBody, httpError, parseRequest } from '../http-errors.js';
import { llmOverride, searchOptionsOf } from '../search-options.js';
import { sseResponse } from '../sse.js';
import { hitView } from '../views.js';
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
    'Invalid options (a `where` that does not parse, rerank without a reranker) are a 400 before any stream starts.',
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
  };
}

/** Questions: answered whole (JSON) or streamed (Server-Sent Events). */
export function askRoutes(ctx: RouteContext) {
  const { kb } = ctx;
  const app = routeGroup();

  app.openapi(bodyReadByHandler(app, ask), async (c) => {
    const body = parseRequest(askBodySchema, await readJson(c));
    const opts = searchOptionsOf(body, kb.config);
    const llmConfig = llmOverride(body.llm);
    const run = async (signal: AbortSignal | undefined, onToken?: (piece: string) => void) => {
      const askOptions: AskOptions = {
        ...opts,
        ...(body.history?.length ? { history: body.history } : {}),
        ...(body.gate === false ? { gate: false } : {}),
        ...(llmConfig ? { llmConfig } : {}),
        ...(signal ? { signal } : {}),
        ...(onToken ? { onToken } : {}),
      };
      const result = await kb.ask(body.question, askOptions);
      // Answering turned off for this request: say so, not that the configured server did not answer.
      if (llmConfig?.provider === 'none' && result.error?.code === 'llm_none') {
        result.error = {
          code: 'llm_none',
          message: 'No language model answered: answering is turned off for this question (provider none).',
        };
      }
      return result;
    };
    if (!wantsEventStream(c)) return c.json(wireResult(await run(c.req.raw.signal)), 200);
    return sseResponse(async (send, signal) => {
      try {
        const result = await run(signal, (piece) => send('token', piece));
        if (signal.aborted) return;
        const view = wireResult(result);
        send('sources', JSON.stringify(view.sources));
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
        send('error', JSON.stringify(errorBody(err).body.error));
      }
    }, c.req.raw.signal);
  });
  return app;
}
