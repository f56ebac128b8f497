import { rmSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { createRoute } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { errorMessage, MmragError } from '../../errors.js';
import { newJobId } from '../../jobs/queue.js';
import { ingestAcceptedSchema, ingestUploadSchema, ingestUrlsBodySchema, urlsSchema } from '../contract.js';
import { httpError, parseRequest } from '../http-errors.js';
import { saveUploads, type UploadedFile } from '../uploads.js';
import {
  bodyReadByHandler,
  errorResponses,
  json,
  type RouteContext,
  readJson,
  routeGroup,
} from './context.js';

/** Uploads (multipart) and web pages by address (JSON): each becomes one ingest job. */
export function ingestRoutes(ctx: RouteContext) {
  const { jobs, uploads } = ctx;
  const { maxUploadBytes, maxUploadFiles, maxFileBytes } = ctx.limits;
  const app = routeGroup();

  const ingest = createRoute({
    method: 'post',
    path: '/api/ingest',
    tags: ['ingest'],
    operationId: 'ingest',
    summary: 'Upload files (and folders: each file named by its relative path), or give web pages to fetch',
    description:
      'Multipart, field `files`; or JSON `{"urls": [...]}`. Either way the files are ingested by one job, one writer at a time.',
    middleware: [
      bodyLimit({
        maxSize: maxUploadBytes,
        onError: () => {
          throw httpError(
            'too_large',
            `The upload is over the ${(maxUploadBytes / 1e6).toFixed(0)} MB limit of one request.`,
            'Upload fewer files at a time, or ingest large folders with `mmrag ingest` on the server.',
          );
        },
      }),
    ],
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
        400: true,
        413: 'Too many files, a file too large, or the request too large (see /api/config limits).',
      }),
    },
  });

  app.openapi(bodyReadByHandler(app, ingest), async (c) => {
    const type = c.req.header('content-type') ?? '';
    if (type.includes('application/json')) {
      const body = (await readJson(c)) as { urls?: unknown };
      if (body && typeof body === 'object' && Array.isArray(body.urls)) {
        const urls = parseRequest(urlsSchema, body.urls);
        const job = await jobs.submit({ paths: urls, uploaded: urls.length, displayName: (path) => path });
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
    let form: FormData;
    try {
      form = await c.req.formData();
    } catch (err) {
      if (err instanceof MmragError) throw err;
      throw httpError('bad_request', `The upload could not be read: ${errorMessage(err)}`);
    }
    const files = form.getAll('files').filter((f): f is File => typeof f !== 'string');
    if (files.length === 0) throw httpError('bad_request', 'No files in the upload (field "files").');
    if (files.length > maxUploadFiles) {
      throw httpError(
        'too_large',
        `${files.length} files in one upload, over the limit of ${maxUploadFiles}.`,
        'Upload fewer files at a time.',
      );
    }
    const tooBig = files.find((f) => f.size > maxFileBytes);
    if (tooBig) {
      throw httpError(
        'too_large',
        `${tooBig.name} is ${(tooBig.size / 1e6).toFixed(1)} MB, over the ${(maxFileBytes / 1e6).toFixed(0)} MB limit for one file.`,
        'Raise ingest.maxFileBytes in the configuration, or leave the file out.',
      );
    }
    const id = newJobId();
    const jobDir = join(uploads.dir, id);
    const uploaded: UploadedFile[] = files.map((f) => ({
      name: f.name,
      size: f.size,
      stream: () => f.stream(),
    }));
    const saved = await saveUploads(uploaded, jobDir).catch((err: unknown) => {
      rmSync(jobDir, { recursive: true, force: true });
      throw err;
    });
    // The job folder's top entries: a folder walk keeps `page_files/` pictures with their page.
    const tops = [...new Set(saved.map((s) => s.rel.split('/')[0]!))].map((top) => join(jobDir, top));
    const job = await jobs.submit(
      {
        paths: tops,
        uploaded: saved.length,
        displayName: (path) => relative(jobDir, path).split(sep).join('/'),
        after: (summary) => uploads.afterUpload(jobDir, summary),
      },
      id,
    );
    return c.json({ id: job.id, status: job.status, uploaded: saved.length }, 202);
  });
  return app;
}
