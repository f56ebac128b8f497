import { relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { createRoute } from '@hono/zod-openapi';
import { newJobId } from '../../jobs/queue.js';
import { ingestAcceptedSchema, ingestUploadSchema, ingestUrlsBodySchema, urlsSchema } from '../contract.js';
import { httpError, parseRequest } from '../http-errors.js';
import { receiveUpload } from '../upload-stream.js';
import {
  bodyReadByHandler,
  errorResponses,
  json,
  type RouteContext,
  readJson,
  routeGroup,
} from './context.js';

/** Most bytes of a JSON request naming pages to fetch. */
const MAX_URLS_BODY = 1024 * 1024;

/** "notes.md", "site (4 files)", "12 files": what an upload holds, for a person. */
export function uploadLabel(rels: string[]): string {
  if (rels.length === 1) return rels[0]!;
  const tops = new Set(rels.map((rel) => rel.split('/')[0]!));
  if (tops.size === 1) return `${[...tops][0]} (${rels.length} files)`;
  return `${rels.length} files`;
}

/** Uploads (multipart, streamed to disk as they arrive) and web pages by address (JSON): each becomes one job. */
export function ingestRoutes(ctx: RouteContext) {
  const { jobs, uploads, spool, uploadBudget, limits } = ctx;
  const app = routeGroup();

  const ingest = createRoute({
    method: 'post',
    path: '/api/ingest',
    tags: ['ingest'],
    operationId: 'ingest',
    summary: 'Upload files (and folders: each file named by its relative path), or give web pages to fetch',
    description:
      'Multipart, field `files`; or JSON `{"urls": [...]}`. Either way the files are ingested by one job, one writer at a time. Uploads are written to disk as they arrive and the limits are checked as bytes arrive: the first byte over a limit is answered with 413 and the connection closed. When the server is already receiving `maxInFlightBytes` (see /api/config limits), an upload is refused with 503 and `Retry-After`.',
    request: {
      body: {
        required: true,
        content: {
          'multipart/form-data': { schema: ingestUploadSchema },
          'application/json': { schema: ingestUrlsBodySchema },
        },
      },
    },
    responses: {
      202: json(ingestAcceptedSchema, 'queued; follow /api/jobs/{id}/events'),
      ...errorResponses({
        400: 'No files, a file name too long to store, a body that is not multipart or JSON.',
        413: 'Too many files, a file too large, or the request too large (see /api/config limits).',
        503: 'The server is receiving as much as it takes at once: try again after Retry-After seconds.',
      }),
    },
  });

  app.openapi(bodyReadByHandler(app, ingest), async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (type.includes('application/json')) {
      const body = (await readJson(c, MAX_URLS_BODY)) as { urls?: unknown };
      if (body && typeof body === 'object' && Array.isArray(body.urls)) {
        const urls = parseRequest(urlsSchema, body.urls);
        const job = await jobs.submit({
          paths: urls,
          uploaded: urls.length,
          label: urls.length === 1 ? urls[0]! : `${urls.length} web pages`,
          displayName: (path) => path,
        });
        return c.json({ id: job.id, status: job.status, uploaded: urls.length }, 202);
      }
      throw httpError('bad_request', 'Send files as multipart/form-data in the field "files".');
    }
    if (!type.includes('multipart/form-data')) {
      throw httpError(
        'bad_request',
        'Send files as multipart/form-data in the field "files" (or JSON {"urls": [...]}).',
      );
    }
    // On Node (@hono/node-server) the request's own stream, read with backpressure (see bodySource).
    const incoming = (c.env as { incoming?: Readable } | undefined)?.incoming;
    const { upload, files } = await receiveUpload(c.req.raw, incoming, spool, limits, uploadBudget);
    const id = newJobId();
    const jobDir = await upload.commit(id);
    const folderOf = (text: string) => text.split(jobDir + sep).join('');
    const job = await jobs.submit(
      {
        paths: uploads.topsOf(
          jobDir,
          files.map((f) => f.rel),
        ),
        uploaded: files.length,
        label: uploadLabel(files.map((f) => f.rel)),
        displayName: (path) => relative(jobDir, path).split(sep).join('/'),
        displayText: (text) => ctx.hidePaths(folderOf(text)),
        settle: () => uploads.settleUnchanged(jobDir, files),
        after: (summary) => uploads.afterUpload(jobDir, summary),
      },
      id,
    );
    return c.json({ id: job.id, status: job.status, uploaded: files.length }, 202);
  });
  return app;
}
