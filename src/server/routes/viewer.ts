import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { Readable } from 'node:stream';
import { createRoute, z } from '@hono/zod-openapi';
import type { KnowledgeBase } from '../../kb.js';
import type { StoredItem } from '../../types.js';
import { errorBodySchema, type ItemView, itemIdParams, itemViewSchema } from '../contract.js';
import { httpError } from '../http-errors.js';
import { mediaUrl } from '../views.js';
import { errorResponses, json, type RouteContext, routeGroup } from './context.js';

/** The bearer token, or the cookie the web app sets for `<img>`, `<audio>` and `<video>` requests. */
const tokenOrCookie: Array<Record<string, string[]>> = [{ bearer: [] }, { mediaCookie: [] }];

const view = createRoute({
  method: 'get',
  path: '/api/items/{id}/view',
  tags: ['items'],
  operationId: 'viewItem',
  summary:
    'What the viewer shows for an item: its page with its boxes, its picture, or its recording at its time',
  description:
    'A text chunk or a picture from a PDF or a slide gives its page picture (`page.mediaUrl`) and where the item is on it (`page.boxes`, fractions of the page, origin top left); a page picture gives itself; a picture gives `picture` (and `page` when it was cut from one); a transcript chunk or a video frame gives `recording` (`url`, `start`) when the original recording is still where it was ingested from.',
  request: { params: itemIdParams },
  responses: {
    200: json(itemViewSchema, 'the item, and what to show it with'),
    ...errorResponses({ 400: 'Not an item id.', 404: 'No such item.' }),
  },
});

const binary = { schema: z.string().openapi({ format: 'binary' }) };

const recording = createRoute({
  method: 'get',
  path: '/api/media/{id}/recording',
  tags: ['items'],
  operationId: 'getRecording',
  summary: 'The original recording an audio or video item comes from, by item id only, with byte ranges',
  description:
    'Serves the file the item was ingested from (never a path from the request), as long as it is still there unchanged in size. Supports `Range: bytes=...` (206 with `Content-Range`; 416 when the range is outside the file), so a player can seek. The token may come as the `mmrag_media` cookie (see POST /api/session).',
  security: tokenOrCookie,
  request: {
    params: itemIdParams,
    headers: z.object({
      range: z
        .string()
        .optional()
        .openapi({ description: 'one byte range: `bytes=0-1023`, `bytes=500-`, `bytes=-500`' }),
    }),
  },
  responses: {
    200: {
      description: 'the whole recording',
      content: { 'audio/mpeg': binary, 'audio/wav': binary, 'video/mp4': binary, 'video/webm': binary },
    },
    206: { description: 'the part of the recording asked for (`Content-Range`)' },
    416: json(
      errorBodySchema,
      'The range asked for is outside the recording (`Content-Range: bytes */size`).',
    ),
    ...errorResponses({
      400: 'Not an item id.',
      404: 'No such item, the item is not from a recording, or the recording is no longer where it was ingested from.',
    }),
  },
});

const RECORDING_TYPES: Record<string, string> = {
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
  '.ogg': 'audio/ogg',
  '.oga': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.flac': 'audio/flac',
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.mov': 'video/quicktime',
  '.webm': 'video/webm',
  '.mkv': 'video/x-matroska',
  '.avi': 'video/x-msvideo',
};

/** The MIME type a player is told for a recording, from its name. */
export function recordingMime(path: string, media: 'audio' | 'video'): string {
  return RECORDING_TYPES[extname(path).toLowerCase()] ?? `${media}/octet-stream`;
}

/** The first byte and the last (inclusive) of a `Range` header on a file of `size` bytes; 'unsatisfiable' or undefined. */
export function parseByteRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: serve the whole file (a server may ignore Range).
  if (!match) return undefined;
  const [, from, to] = match;
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  if (start >= size) return 'unsatisfiable';
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (end < start) return 'unsatisfiable';
  return { start, end };
}

/** The recording an item comes from, when it is one and the file is still there as it was ingested. */
async function recordingOf(
  kb: KnowledgeBase,
  item: StoredItem,
): Promise<{ path: string; size: number; mtimeMs: number; media: 'audio' | 'video' } | undefined> {
  if (item.type !== 'audio' && item.type !== 'video') return undefined;
  if (item.source.includes('://')) return undefined;
  const record = (await kb.sources()).find((r) => r.source === item.source);
  if (!record) return undefined;
  const info = await stat(item.source).catch(() => undefined);
  // A file that changed since it was ingested no longer has the times the items say.
  if (!info?.isFile() || info.size !== record.bytes) return undefined;
  return { path: item.source, size: info.size, mtimeMs: info.mtimeMs, media: item.type };
}

/** The page picture a PDF or slide item sits on: the `page` item of the same source and page (or slide). */
async function pageOf(kb: KnowledgeBase, item: StoredItem): Promise<ItemView['page']> {
  const unit =
    item.location?.page !== undefined ? 'page' : item.location?.slide !== undefined ? 'slide' : undefined;
  if (!unit) return undefined;
  const number = item.location![unit]!;
  const page =
    item.type === 'page'
      ? item
      : (await kb.items(item.source)).find((i) => i.type === 'page' && i.location?.[unit] === number);
  if (!page?.media) return undefined;
  return {
    id: page.id,
    mediaUrl: mediaUrl(page.id),
    unit,
    number,
    boxes: item.type === 'page' ? [] : (item.location?.boxes ?? []),
  };
}

/** The viewer's description of an item. */
export async function describeForViewer(kb: KnowledgeBase, item: StoredItem): Promise<ItemView> {
  const out: ItemView = {
    id: item.id,
    kind: 'text',
    type: item.type,
    title: item.title,
    section: item.section,
    source: item.source,
    text: item.text,
  };
  if (item.location) out.location = item.location;
  const start = item.location?.start;
  if (start !== undefined) {
    const file = await recordingOf(kb, item);
    if (file) {
      out.kind = 'recording';
      out.recording = {
        url: `${mediaUrl(item.id)}/recording`,
        mime: recordingMime(file.path, file.media),
        media: file.media,
        start,
        ...(item.location?.end !== undefined ? { end: item.location.end } : {}),
      };
    }
  }
  const page = await pageOf(kb, item);
  if (page) out.page = page;
  if (item.modality === 'image' && item.media && item.type !== 'page') {
    out.picture = {
      mediaUrl: mediaUrl(item.id),
      caption: item.text,
      ...(item.description ? { description: item.description } : {}),
    };
  }
  if (out.kind === 'text') out.kind = out.picture ? 'picture' : page ? 'page' : 'text';
  return out;
}

/** What the web app's viewer needs, by item id: the item's page and boxes, its picture, or its recording. */
export function viewerRoutes(ctx: RouteContext) {
  return routeGroup()
    .openapi(view, async (c) => {
      const { id } = c.req.valid('param');
      const item = await ctx.kb.item(id);
      if (!item) throw httpError('not_found', `No item ${id} in this knowledge base.`);
      return c.json(await describeForViewer(ctx.kb, item), 200);
    })
    .openapi(recording, async (c) => {
      const { id } = c.req.valid('param');
      const item = await ctx.kb.item(id);
      if (!item) throw httpError('not_found', `No item ${id} in this knowledge base.`);
      const file = await recordingOf(ctx.kb, item);
      if (!file) {
        throw httpError(
          'not_found',
          item.type === 'audio' || item.type === 'video'
            ? `The recording of item ${id} is no longer where it was ingested from, or has changed since.`
            : `Item ${id} is not from a recording.`,
          item.type === 'audio' || item.type === 'video' ? 'Ingest the recording again.' : undefined,
        );
      }
      const headers: Record<string, string> = {
        'content-type': recordingMime(file.path, file.media),
        'accept-ranges': 'bytes',
        'cache-control': 'private, max-age=3600',
        etag: `"${file.size.toString(16)}-${Math.floor(file.mtimeMs).toString(16)}"`,
        'content-security-policy': "default-src 'none'; sandbox",
        'x-content-type-options': 'nosniff',
      };
      const range = parseByteRange(c.req.valid('header').range, file.size);
      if (range === 'unsatisfiable') {
        const error = {
          error: {
            code: 'range_not_satisfiable',
            message: `The range ${c.req.valid('header').range} is outside the recording of ${file.size} bytes.`,
          },
        };
        return new Response(JSON.stringify(error), {
          status: 416,
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-range': `bytes */${file.size}`,
          },
        });
      }
      const { start, end } = range ?? { start: 0, end: file.size - 1 };
      const body =
        file.size === 0
          ? null
          : (Readable.toWeb(
              createReadStream(file.path, { start, end }),
            ) as unknown as ReadableStream<Uint8Array>);
      headers['content-length'] = String(file.size === 0 ? 0 : end - start + 1);
      if (range) headers['content-range'] = `bytes ${start}-${end}/${file.size}`;
      return new Response(body, { status: range ? 206 : 200, headers });
    });
}
