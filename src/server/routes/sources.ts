import { createRoute } from '@hono/zod-openapi';
import { deletedSourceSchema, sourceIdParams, sourceItemsSchema, sourcesSchema } from '../contract.js';
import { httpError } from '../http-errors.js';
import { itemView, sourceId, sourceView } from '../views.js';
import { errorResponses, json, type RouteContext, routeGroup } from './context.js';

const list = createRoute({
  method: 'get',
  path: '/api/sources',
  tags: ['sources'],
  operationId: 'listSources',
  summary: 'Everything in the knowledge base, newest first',
  responses: { 200: json(sourcesSchema, 'the sources'), ...errorResponses() },
});

const remove = createRoute({
  method: 'delete',
  path: '/api/sources/{id}',
  tags: ['sources'],
  operationId: 'deleteSource',
  summary: 'Remove a source, its items and pictures (and its uploaded copy)',
  request: { params: sourceIdParams },
  responses: {
    200: json(deletedSourceSchema, 'removed'),
    ...errorResponses({ 400: 'Not a source id.', 404: 'No such source.' }),
  },
});

const items = createRoute({
  method: 'get',
  path: '/api/sources/{id}/items',
  tags: ['sources'],
  operationId: 'sourceItems',
  summary: 'The items of one source, in order',
  request: { params: sourceIdParams },
  responses: {
    200: json(sourceItemsSchema, 'the source and its items'),
    ...errorResponses({ 400: 'Not a source id.', 404: 'No such source.' }),
  },
});

/** The sources of the knowledge base: the list, one source's items, and removing one. */
export function sourceRoutes(ctx: RouteContext) {
  const { kb, jobs, uploads } = ctx;

  const sourceById = async (id: string) => {
    const record = (await kb.sources()).find((r) => sourceId(r.source) === id);
    if (!record)
      throw httpError(
        'not_found',
        `No source ${id} in this knowledge base.`,
        'List them with GET /api/sources.',
      );
    return record;
  };

  return routeGroup()
    .openapi(list, async (c) => {
      const records = await kb.sources();
      return c.json(
        {
          sources: records.map((r) => sourceView(r, uploads.dir)).sort((a, b) => b.ingestedAt - a.ingestedAt),
        },
        200,
      );
    })
    .openapi(remove, async (c) => {
      const record = await sourceById(c.req.valid('param').id);
      const removed = await jobs.exclusive(() => uploads.removeSource(record.source));
      return c.json({ id: sourceId(record.source), source: record.source, removed }, 200);
    })
    .openapi(items, async (c) => {
      const record = await sourceById(c.req.valid('param').id);
      const found = await kb.items(record.source);
      return c.json({ source: sourceView(record, uploads.dir), items: found.map(itemView) }, 200);
    });
}
