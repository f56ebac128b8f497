import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { JobQueue } from '../../jobs/queue.js';
import type { KnowledgeBase } from '../../kb.js';
import type { ByteBudget } from '../byte-budget.js';
import { errorBodySchema } from '../contract.js';
import { httpError, type PathHider, validationHook } from '../http-errors.js';
import type { AnsweringPolicy } from '../llm-policy.js';
import type { UploadSpool } from '../spool.js';
import type { UploadFolders } from '../upload-folders.js';

export const API_VERSION = '0.1.0';

/** What every route module works with: one knowledge base, its job queue and its uploads. */
export interface RouteContext {
  kb: KnowledgeBase;
  jobs: JobQueue;
  uploads: UploadFolders;
  /** Where uploads are written as they arrive. */
  spool: UploadSpool;
  /** Bytes being received across all uploads, bounded by `limits.maxInFlightBytes`. */
  uploadBudget: ByteBudget;
  limits: { maxUploadBytes: number; maxUploadFiles: number; maxFileBytes: number; maxInFlightBytes: number };
  /** Which models an API client may choose for its questions. */
  answering: AnsweringPolicy;
  /** The server's folders out of texts sent to clients. */
  hidePaths: PathHider;
  tokenRequired: boolean;
  /** Derives the media cookie's value from the token (undefined without a token). */
  mediaKey: string | undefined;
}

/** The routes of one resource; their path and query validators answer refusals through the shared hook. */
export function routeGroup(): OpenAPIHono {
  return new OpenAPIHono({ defaultHook: validationHook() });
}

const ERROR_MEANINGS = {
  400: 'Invalid request: the message names the field and the rule.',
  401: 'A token is required (the server was started with one): send Authorization: Bearer <token>.',
  403: 'Refused: a host name this server does not answer to, or a write from another origin.',
  404: 'Not found.',
  413: 'Too large.',
  500: 'An unexpected failure; the message says what.',
  503: 'Busy: try again after the Retry-After seconds.',
} as const;

type ErrorStatus = keyof typeof ERROR_MEANINGS;

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorBodySchema } },
});

/**
 * The error responses of a route: 403 and 500 always, 401 unless the route is open, and the statuses given, each
 * with what it means here (the generic meaning when given as `true`).
 */
export function errorResponses(
  specific: Partial<Record<Exclude<ErrorStatus, 403 | 500>, string | true>> = {},
  { open = false }: { open?: boolean } = {},
) {
  const statuses: Partial<Record<ErrorStatus, string | true>> = {
    ...specific,
    ...(open ? {} : { 401: true }),
    403: true,
    500: true,
  };
  return Object.fromEntries(
    Object.entries(statuses).map(([status, meaning]) => [
      status,
      errorResponse(meaning === true ? ERROR_MEANINGS[Number(status) as ErrorStatus] : meaning),
    ]),
  ) as Record<ErrorStatus, ReturnType<typeof errorResponse>>;
}

/**
 * Document a route with its request body, but leave reading the body to the handler. The generated body
 * validators would refuse a JSON body sent without `Content-Type: application/json` (415) and word malformed JSON
 * their own way; these routes accept such bodies and answer in the API's words, validating with the same schemas
 * (`parseRequest`). Path and query parameters are still validated by the generated validators.
 */
export function bodyReadByHandler<R extends RouteConfig>(app: OpenAPIHono, route: R): WithoutBody<R> {
  const { middleware: _middleware, hide: _hide, ...documented } = route;
  app.openAPIRegistry.registerPath(documented);
  const { body: _body, ...request } = route.request ?? {};
  return { ...route, request, hide: true } as WithoutBody<R>;
}

type WithoutBody<R extends RouteConfig> = Omit<R, 'request'> & {
  request: Omit<NonNullable<R['request']>, 'body'>;
  hide: true;
};

export function wantsEventStream(c: Context): boolean {
  return (c.req.header('accept') ?? '').includes('text/event-stream');
}

/**
 * The body as JSON, whatever the Content-Type says (`curl -d` sends form encoding); with `maxBytes`, a longer body
 * is refused (413) as soon as it is longer, declared or not.
 */
export async function readJson(c: Context, maxBytes?: number): Promise<unknown> {
  let text: string;
  if (maxBytes === undefined) text = await c.req.text();
  else {
    const tooLarge = () =>
      httpError('too_large', `The request body is over ${(maxBytes / 1e6).toFixed(0)} MB.`);
    const declared = Number(c.req.header('content-length') ?? Number.NaN);
    if (declared > maxBytes) throw tooLarge();
    const reader = c.req.raw.body?.getReader();
    const chunks: Uint8Array[] = [];
    let length = 0;
    for (;;) {
      const next = reader ? await reader.read() : { done: true as const, value: undefined };
      if (next.done) break;
      length += next.value.byteLength;
      if (length > maxBytes) {
        await reader?.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(next.value);
    }
    text = Buffer.concat(chunks).toString('utf8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw httpError(
      'bad_request',
      'The request body is not valid JSON.',
      'Send Content-Type: application/json.',
    );
  }
}

export const json = <T>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
