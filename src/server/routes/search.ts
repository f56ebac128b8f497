import { createRoute } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { SearchOptions } from '../../kb.js';
import {
  FIELD_PATHS,
  pictureSearchSchema,
  searchBodySchema,
  searchFieldsSchema,
  searchResultSchema,
} from '../contract.js';
import { httpError, parseRequest, validationHook } from '../http-errors.js';
import { searchBodyOfFields, searchOptionsOf } from '../search-options.js';
import { hitView } from '../views.js';
import {
  bodyReadByHandler,
  errorResponses,
  json,
  type RouteContext,
  readJson,
  routeGroup,
} from './context.js';

const result = json(searchResultSchema, 'hits per modality');

const byText = createRoute({
  method: 'get',
  path: '/api/search',
  tags: ['search'],
  operationId: 'search',
  summary: 'Text and pictures most related to a text query (no LLM)',
  request: { query: searchFieldsSchema },
  responses: {
    200: result,
    ...errorResponses({ 400: 'An empty query, or an invalid option (the message says which).' }),
  },
});

const byPicture = createRoute({
  method: 'post',
  path: '/api/search',
  tags: ['search'],
  operationId: 'searchByPicture',
  summary: 'Search by a picture (multipart field `image`), text (`q`), or both; or JSON {q, ...options}',
  request: {
    body: {
      required: true,
      content: {
        'multipart/form-data': { schema: pictureSearchSchema },
        'application/json': { schema: searchBodySchema },
      },
    },
  },
  responses: {
    200: result,
    ...errorResponses({
      400: 'An empty query, or an invalid option (the message says which).',
      413: 'The picture is over 64 MB.',
    }),
  },
});

/** Search without an answer: by text (query string or JSON), by a picture, or both. */
export function searchRoutes(ctx: RouteContext) {
  const { kb } = ctx;
  const app = routeGroup();

  const searchResponse = async (
    text: string | undefined,
    image: Uint8Array | undefined,
    opts: SearchOptions,
  ) => {
    if (!text?.trim() && !image)
      throw httpError('bad_query', 'The query is empty.', 'Give q (text), an image, or both.');
    const found = await kb.search({ text, ...(image ? { imageBytes: image } : {}) }, opts);
    return {
      query: found.query,
      level: found.level,
      mode: found.mode,
      text: found.text.map(hitView),
      images: found.images.map(hitView),
    };
  };

  // The fields' messages name the JSON place of an option (`text.k`), as the JSON form's do.
  app.openapi(
    byText,
    async (c) => {
      const body = searchBodyOfFields(c.req.valid('query'));
      return c.json(await searchResponse(body.q, undefined, searchOptionsOf(body, kb.config)), 200);
    },
    validationHook(FIELD_PATHS),
  );

  app.openapi(
    bodyReadByHandler(app, {
      ...byPicture,
      middleware: [
        bodyLimit({
          maxSize: 64 * 1024 * 1024,
          onError: () => {
            throw httpError('too_large', 'The query picture is over 64 MB.');
          },
        }),
      ],
    }),
    async (c) => {
      const type = c.req.header('content-type') ?? '';
      if (type.includes('application/json')) {
        const body = parseRequest(searchBodySchema, await readJson(c));
        return c.json(await searchResponse(body.q, undefined, searchOptionsOf(body, kb.config)), 200);
      }
      if (!type.includes('multipart/form-data'))
        throw httpError(
          'bad_request',
          'Send JSON {"q", ...options} or multipart/form-data with an "image" file.',
        );
      const form = await c.req.formData();
      const field = (name: string) => {
        const v = form.get(name);
        return typeof v === 'string' ? v : undefined;
      };
      const fields = Object.fromEntries(
        Object.keys(searchFieldsSchema.shape).map((name) => [name, field(name)]),
      );
      const body = searchBodyOfFields(parseRequest(searchFieldsSchema, fields, FIELD_PATHS));
      const opts = searchOptionsOf(body, kb.config);
      const image = form.get('image');
      if (image !== null && typeof image === 'string')
        throw httpError('bad_request', 'The field "image" must be a file.');
      // The picture goes to the embedder from memory: no temporary file.
      const bytes = image ? new Uint8Array(await image.arrayBuffer()) : undefined;
      return c.json(await searchResponse(body.q, bytes, opts), 200);
    },
  );
  return app;
}
