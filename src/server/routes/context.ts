import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { JobQueue } from '../../jobs/queue.js';
import type { KnowledgeBase } from '../../kb.js';
import { errorBodySchema } from '../contract.js';
import { httpError, validationHook } from '../http-errors.js';
import type { UploadFolders } from '../upload-folders.js';

export const API_VERSION = '0.1.0';

/** What every route module works with: one knowledge base, its job queue and its uploads. */
export interface RouteContext {
  kb: KnowledgeBase;
  jobs: JobQueue;
  uploads: UploadFolders;
  limits: { maxUploadBytes: number; maxUploadFiles: number; maxFileBytes: number };
  tokenRequired: boolean;
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

/** The body as JSON, whatever the Content-Type says (`curl -d` sends form encoding). */
export async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
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
