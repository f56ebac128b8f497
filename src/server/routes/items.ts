import { createRoute } from '@hono/zod-openapi';
import { itemIdParams, itemSchema } from '../contract.js';
import { httpError } from '../http-errors.js';
import { itemView } from '../views.js';
import { errorResponses, json, type RouteContext, routeGroup } from './context.js';

const one = createRoute({
  method: 'get',
  path: '/api/items/{id}',
  tags: ['items'],
  operationId: 'getItem',
  summary: 'One item by id',
  request: { params: itemIdParams },
  responses: {
    200: json(itemSchema, 'the item'),
    ...errorResponses({ 400: 'Not an item id.', 404: 'No such item.' }),
  },
});

/** One item (a text chunk or a picture) by id. */
export function itemRoutes(ctx: RouteContext) {
  return routeGroup().openapi(one, async (c) => {
    const { id } = c.req.valid('param');
    const item = await ctx.kb.item(id);
    if (!item) throw httpError('not_found', `No item ${id} in this knowledge base.`);
    return c.json(itemView(item), 200);
  });
}
