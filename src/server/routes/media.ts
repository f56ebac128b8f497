import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { createRoute, z } from '@hono/zod-openapi';
import { MEDIA_COOKIE } from '../auth.js';
import { itemIdParams } from '../contract.js';
import { httpError } from '../http-errors.js';
import { errorResponses, type RouteContext, routeGroup } from './context.js';

/** The bearer token, or the cookie the web app sets for `<img>` requests. */
const tokenOrCookie: Array<Record<string, string[]>> = [{ bearer: [] }, { mediaCookie: [] }];

const picture = { schema: z.string().openapi({ format: 'binary' }) };

const one = createRoute({
  method: 'get',
  path: '/api/media/{id}',
  tags: ['items'],
  operationId: 'getMedia',
  summary: 'The stored picture (or video frame) of an item, by item id only',
  description:
    'The token may come as the HttpOnly cookie `mmrag_media` that POST /api/session sets (an `<img>` cannot send headers). Cached for a day; revalidate with If-None-Match.',
  security: tokenOrCookie,
  request: { params: itemIdParams },
  responses: {
    200: {
      description: 'the picture',
      content: { 'image/png': picture, 'image/jpeg': picture, 'image/webp': picture, 'image/gif': picture },
    },
    304: { description: 'not modified (If-None-Match)' },
    ...errorResponses({ 400: 'Not an item id.', 404: 'No such item, or the item has no picture.' }),
  },
});

const session = createRoute({
  method: 'post',
  path: '/api/session',
  tags: ['items'],
  operationId: 'openSession',
  summary: 'Let this browser load pictures with <img>: sets the media cookie (on a server with a token)',
  description:
    'Answers 204 with `Set-Cookie: mmrag_media=...; Path=/api/media; HttpOnly; SameSite=Strict` (and `Secure` over HTTPS): a key derived from the token, accepted by GET /api/media/{id} only. The web app calls it whenever it starts with a stored token, so pictures load after a browser restart. Without a token on the server there is nothing to set.',
  responses: {
    204: { description: 'the cookie is set (or not needed)' },
    ...errorResponses(),
  },
});

/** Stored pictures, served by item id: the path comes from the knowledge base, never from the request. */
export function mediaRoutes(ctx: RouteContext) {
  return routeGroup()
    .openapi(session, (c) => {
      if (ctx.mediaKey) {
        const https =
          new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
        c.header(
          'Set-Cookie',
          `${MEDIA_COOKIE}=${ctx.mediaKey}; Path=/api/media; HttpOnly; SameSite=Strict${https ? '; Secure' : ''}`,
        );
      }
      return c.body(null, 204);
    })
    .openapi(one, async (c) => {
      const { id } = c.req.valid('param');
      const media = await ctx.kb.media(id);
      if (!media) throw httpError('not_found', `No picture for item ${id}.`);
      const info = await stat(media.path).catch(() => undefined);
      if (!info?.isFile())
        throw httpError('not_found', `The picture of item ${id} is missing from the knowledge base.`);
      // Stored pictures are named by their content hash: the name is a perfect entity tag.
      const etag = `"${basename(media.path).split('.')[0]!.slice(0, 32)}"`;
      const headers = {
        'content-type': media.mime,
        'content-length': String(info.size),
        'cache-control': 'private, max-age=86400',
        etag,
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        'x-content-type-options': 'nosniff',
      };
      if (c.req.header('if-none-match') === etag) return new Response(null, { status: 304, headers });
      const stream = Readable.toWeb(createReadStream(media.path)) as unknown as ReadableStream<Uint8Array>;
      return new Response(stream, { status: 200, headers });
    });
}
