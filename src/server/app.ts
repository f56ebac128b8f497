import { createReadStream, existsSync, rmSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { type Config, redactConfig } from '../config.js';
import { errorMessage, MmragError } from '../errors.js';
import type { IngestSummary } from '../ingest/pipeline.js';
import type { AskOptions, AskResult, KnowledgeBase, SearchOptions } from '../kb.js';
import { parseWhere } from '../retrieve/filter.js';
import { bearerToken, cookieValue, tokenMatches } from './auth.js';
import { type JobEvent, JobQueue } from './jobs.js';
import { openApiDocument } from './openapi.js';
import { sseResponse } from './sse.js';
import { CONTENT_SECURITY_POLICY, NOT_BUILT_PAGE, staticFile, WEB_DIST } from './static.js';
import { saveUploads, type UploadedFile } from './uploads.js';
import { hitView, ITEM_ID, itemView, SOURCE_ID, sourceId, sourceView, uploadedName } from './views.js';

export const API_VERSION = '0.1.0';

export interface AppOptions {
  /** Require `Authorization: Bearer <token>` on every API call but `/api/health`. */
  token?: string;
  /** Most bytes one upload request may carry (default 256 MiB: the request is buffered in memory before it is saved). */
  maxUploadBytes?: number;
  /** Most files one upload request may carry (default 1000). */
  maxUploadFiles?: number;
  /** Most bytes of one uploaded file (default: the knowledge base's `ingest.maxFileBytes`). */
  maxFileBytes?: number;
  /**
   * Host names the server answers to (default: any). A server bound to loopback sets the loopback names, so a web
   * page on another site cannot reach it through DNS rebinding.
   */
  allowedHosts?: string[];
  /** Folder of the built web app (default web/dist of the package). */
  webRoot?: string;
}

export interface MmragApp {
  app: Hono;
  jobs: JobQueue;
  /** Where uploads are written: `<kb>/uploads/<job>/...`. */
  uploadsDir: string;
}

interface ApiErrorBody {
  error: { code: string; message: string; hint?: string };
}

const STATUS_OF_CODE: Record<string, 400 | 401 | 403 | 404 | 409 | 413 | 501 | 503> = {
  bad_request: 400,
  bad_query: 400,
  usage: 400,
  invalid_config: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  kb_locked: 409,
  model_mismatch: 409,
  too_large: 413,
  not_implemented: 501,
  model_unavailable: 503,
};

function httpError(code: string, message: string, hint?: string): MmragError {
  return new MmragError(message, hint, code);
}

function errorBody(err: unknown): { status: number; body: ApiErrorBody } {
  if (err instanceof MmragError) {
    return {
      status: STATUS_OF_CODE[err.code] ?? 500,
      body: { error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } },
    };
  }
  return { status: 500, body: { error: { code: 'internal', message: errorMessage(err) } } };
}

const modality = z
  .object({
    k: z.number().int().min(0).max(500),
    threshold: z.number().min(-1e6).max(1e6),
    temperature: z.number().positive().max(1e6),
  })
  .partial()
  .strict();

const searchOptionsSchema = z.object({
  scoring: z.enum(['softmax', 'cosine']).optional(),
  text: modality.optional(),
  image: modality.optional(),
  /** 1: text forms only; 2: text forms, pictures for the model; 3: CLIP space for text and pictures. */
  level: z.union([z.literal(1), z.literal(2), z.literal(3)]).optional(),
  mode: z.enum(['hybrid', 'vector', 'bm25']).optional(),
  /** A filter in the `--where` language; checked by its parser before anything runs. */
  where: z.string().max(4000).optional(),
  /** MMR lambda in (0, 1]: lower is more diverse. */
  diversity: z.number().gt(0).max(1).optional(),
  rerank: z.boolean().optional(),
});

const askSchema = searchOptionsSchema.extend({
  question: z.string().trim().min(1).max(8000),
  history: z
    .array(z.object({ role: z.enum(['user', 'assistant']), content: z.string().max(50_000) }).strict())
    .max(100)
    .optional(),
  llm: z
    .object({
      provider: z.enum(['auto', 'ollama', 'openai', 'none']).optional(),
      model: z.string().trim().min(1).max(200).optional(),
    })
    .strict()
    .optional(),
});

const urlsSchema = z
  .array(
    z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'only http and https URLs'),
  )
  .min(1)
  .max(100);

const searchBodySchema = searchOptionsSchema.extend({ q: z.string().max(8000).optional() });

function validation<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
  throw httpError('bad_request', `Invalid request: ${problems}.`, 'See /api/openapi.json for the fields.');
}

/**
 * The knowledge base's search options from a validated body. A bad `where` or a rerank nobody configured is
 * refused here, as a 400, before a search (or an answer stream) starts.
 */
function searchOptionsOf(body: z.infer<typeof searchOptionsSchema>, config: Config): SearchOptions {
  const where = body.where?.trim() || undefined;
  if (where) parseWhere(where);
  if (body.rerank && config.search.rerank.provider === 'none') {
    throw httpError(
      'bad_request',
      'Reranking was asked for, but this server has no reranker configured.',
      'Leave rerank out, or start the server with search.rerank.provider set (MMRAG_RERANK).',
    );
  }
  return {
    ...(body.scoring ? { scoring: body.scoring } : {}),
    ...(body.text ? { text: body.text } : {}),
    ...(body.image ? { image: body.image } : {}),
    ...(body.level ? { level: body.level } : {}),
    ...(body.mode ? { mode: body.mode } : {}),
    ...(where ? { where } : {}),
    ...(body.diversity !== undefined ? { diversity: body.diversity } : {}),
    ...(body.rerank !== undefined ? { rerank: body.rerank } : {}),
  };
}

/**
 * Search options from query-string or multipart fields (`scoring`, `textK`, `imageThreshold`, `level`, `mode`,
 * `where`, `diversity`, `rerank`, ...).
 */
function searchOptionsFromFields(
  get: (name: string) => string | undefined,
): z.infer<typeof searchBodySchema> {
  const num = (name: string) => {
    const raw = get(name);
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n)) throw httpError('bad_request', `${name} must be a number, got "${raw}".`);
    return n;
  };
  const bool = (name: string) => {
    const raw = get(name)?.trim().toLowerCase();
    if (raw === undefined || raw === '') return undefined;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    throw httpError('bad_request', `${name} must be true or false, got "${get(name)}".`);
  };
  const group = (prefix: 'text' | 'image') => {
    const out = {
      k: num(`${prefix}K`),
      threshold: num(`${prefix}Threshold`),
      temperature: num(`${prefix}Temperature`),
    };
    const defined = Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
    return Object.keys(defined).length > 0 ? defined : undefined;
  };
  return validation(searchBodySchema, {
    q: get('q'),
    scoring: get('scoring') || undefined,
    text: group('text'),
    image: group('image'),
    level: num('level'),
    mode: get('mode') || undefined,
    where: get('where') || undefined,
    diversity: num('diversity'),
    rerank: bool('rerank'),
  });
}

function wantsEventStream(c: Context): boolean {
  return (c.req.header('accept') ?? '').includes('text/event-stream');
}

async function readJson(c: Context): Promise<unknown> {
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

/** The per-request model choice as the knowledge base takes it (a new provider brings its own URL and model). */
function llmOverride(override: z.infer<typeof askSchema>['llm']): Partial<Config['llm']> | undefined {
  if (!override) return undefined;
  return {
    ...(override.provider ? { provider: override.provider } : {}),
    ...(override.model ? { model: override.model } : {}),
  };
}

/**
 * The HTTP API and the web app around one knowledge base, as a Hono app (callable without a socket through
 * `app.request`). Writes go through one job queue; searches and questions run beside them.
 */
export function createApp(kb: KnowledgeBase, options: AppOptions = {}): MmragApp {
  const uploadsDir = join(kb.dir, 'uploads');
  const maxUploadBytes = options.maxUploadBytes ?? 256 * 1024 * 1024;
  const maxUploadFiles = options.maxUploadFiles ?? 1000;
  const maxFileBytes = options.maxFileBytes ?? kb.config.ingest.maxFileBytes;
  const webRoot = options.webRoot ?? WEB_DIST;
  const allowedHosts = options.allowedHosts?.map((h) => h.toLowerCase());
  // Uploaded files may refer only to files uploaded with them (their job's folder): never to the server's disk.
  const jobFolderOf = (paths: string[]) => {
    const local = paths.find((p) => !/^https?:\/\//i.test(p));
    if (!local) return undefined;
    const [job] = relative(uploadsDir, local).split(sep);
    return job && job !== '..' ? join(uploadsDir, job) : uploadsDir;
  };
  const jobs = new JobQueue((paths, onEvent) => kb.ingest(paths, { onEvent, localRoot: jobFolderOf(paths) }));
  const app = new Hono();

  app.onError((err, c) => {
    const { status, body } = errorBody(err);
    // The rest of a refused upload is still on the wire: close the connection rather than read it as a request.
    if (status === 413) c.header('Connection', 'close');
    return c.json(body, status as 400);
  });
  app.notFound((c) =>
    c.req.path.startsWith('/api/')
      ? c.json(
          {
            error: {
              code: 'not_found',
              message: `No API route ${c.req.method} ${c.req.path}.`,
              hint: 'See /api/openapi.json.',
            },
          },
          404,
        )
      : c.text('Not found', 404),
  );

  app.use('*', async (c, next) => {
    if (allowedHosts) {
      const host = new URL(c.req.url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
      if (!allowedHosts.includes(host)) {
        return c.json(
          { error: { code: 'forbidden', message: `This server does not answer to the host name ${host}.` } },
          403,
        );
      }
    }
    // A page on another site may send simple requests (a form POST) here: refuse writes from other origins.
    const origin = c.req.header('origin');
    if (origin && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      let sameOrigin = false;
      try {
        sameOrigin = new URL(origin).host === new URL(c.req.url).host;
      } catch {
        sameOrigin = false;
      }
      if (!sameOrigin) {
        return c.json(
          { error: { code: 'forbidden', message: `Requests from ${origin} are not allowed.` } },
          403,
        );
      }
    }
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
  });

  app.use('/api/*', async (c, next) => {
    if (!options.token || c.req.path === '/api/health') return next();
    let presented = bearerToken(c.req.header('authorization'));
    // Pictures are loaded by <img> tags, which cannot send headers: the web app sets a SameSite cookie instead.
    if (presented === undefined && c.req.method === 'GET' && c.req.path.startsWith('/api/media/'))
      presented = cookieValue(c.req.header('cookie'), 'mmrag_token');
    if (!tokenMatches(presented, options.token)) {
      c.header('WWW-Authenticate', 'Bearer realm="mmrag"');
      return c.json(
        {
          error: {
            code: 'unauthorized',
            message: 'This server needs a token.',
            hint: 'Send Authorization: Bearer <token> (the --token or MMRAG_TOKEN the server was started with).',
          },
        },
        401,
      );
    }
    return next();
  });

  app.get('/api/health', (c) => c.json({ status: 'ok', version: API_VERSION }));

  app.get('/api/openapi.json', (c) => c.json(openApiDocument(API_VERSION)));

  app.get('/api/config', async (c) => {
    const config = redactConfig(kb.config);
    return c.json({
      version: API_VERSION,
      config: { ...config, kb: kb.dir },
      embedModel: kb.embedModel,
      levels: [1, 2, 3],
      level: kb.config.search.level,
      mode: kb.config.search.mode,
      rerank: kb.config.search.rerank.provider !== 'none',
      tokenRequired: Boolean(options.token),
      urlIngest: true,
      limits: { maxUploadBytes, maxUploadFiles, maxFileBytes },
    });
  });

  app.get('/api/stats', async (c) => {
    const stats = await kb.stats();
    return c.json(stats);
  });

  // ---- ingest ----
  app.post(
    '/api/ingest',
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
    async (c) => {
      const type = c.req.header('content-type') ?? '';
      if (type.includes('application/json')) {
        const body = (await readJson(c)) as { urls?: unknown };
        if (body && typeof body === 'object' && Array.isArray(body.urls)) {
          const urls = validation(urlsSchema, body.urls);
          const job = jobs.submit({ paths: urls, uploaded: urls.length, displayName: (path) => path });
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
      const id = JobQueue.newId();
      const jobDir = join(uploadsDir, id);
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
      const job = jobs.submit(
        {
          paths: tops,
          uploaded: saved.length,
          displayName: (path) => relative(jobDir, path).split(sep).join('/'),
          after: (summary) => afterUpload(jobDir, summary),
        },
        id,
      );
      return c.json({ id: job.id, status: job.status, uploaded: saved.length }, 202);
    },
  );

  /** A new upload of a file replaces the older uploads of the same name; nothing is left behind for failures. */
  async function afterUpload(jobDir: string, summary: IngestSummary): Promise<void> {
    const ingested = new Set(
      summary.outcomes.filter((o) => o.status === 'ingested').map((o) => uploadedName(o.file, uploadsDir)),
    );
    if (ingested.size > 0) {
      for (const record of await kb.sources()) {
        if (record.source.startsWith(jobDir + sep)) continue;
        const name = uploadedName(record.source, uploadsDir);
        if (name !== undefined && ingested.has(name)) await removeSource(record.source);
      }
    }
    await removeJobFolderIfUnused(jobDir);
  }

  async function removeJobFolderIfUnused(jobDir: string): Promise<void> {
    const used = (await kb.sources()).some((r) => r.source.startsWith(jobDir + sep));
    if (!used) await rm(jobDir, { recursive: true, force: true });
  }

  async function removeSource(source: string): Promise<number> {
    const removed = await kb.delete(source);
    const name = uploadedName(source, uploadsDir);
    if (name !== undefined) {
      const jobDir = join(uploadsDir, relative(uploadsDir, source).split(sep)[0]!);
      await rm(source, { force: true });
      await removeJobFolderIfUnused(jobDir);
    }
    return removed;
  }

  app.get('/api/jobs', (c) => c.json({ jobs: jobs.list() }));

  const jobEvents = (c: Context, id: string) => {
    const job = jobs.get(id);
    if (!job) throw httpError('not_found', `No job ${id} (jobs are kept in memory until the server stops).`);
    return sseResponse(async (send, signal) => {
      const finished = job.status === 'done' || job.status === 'failed';
      send('job', JSON.stringify(job));
      if (finished) {
        send('done', JSON.stringify(job));
        return;
      }
      await new Promise<void>((resolveDone) => {
        const stop = jobs.subscribe(id, (event: JobEvent) => {
          if (event.type === 'file') send('file', JSON.stringify({ index: event.index, file: event.file }));
          else send(event.type, JSON.stringify(event.job));
          if (event.type === 'done') {
            stop();
            resolveDone();
          }
        });
        signal.addEventListener('abort', () => {
          stop();
          resolveDone();
        });
      });
    }, c.req.raw.signal);
  };

  app.get('/api/jobs/:id', (c) => {
    const id = c.req.param('id');
    if (wantsEventStream(c)) return jobEvents(c, id);
    const job = jobs.get(id);
    if (!job) throw httpError('not_found', `No job ${id} (jobs are kept in memory until the server stops).`);
    return c.json(job);
  });

  app.get('/api/jobs/:id/events', (c) => jobEvents(c, c.req.param('id')));

  // ---- search and ask ----
  const searchResponse = async (
    text: string | undefined,
    image: Uint8Array | undefined,
    opts: SearchOptions,
  ) => {
    if (!text?.trim() && !image)
      throw httpError('bad_query', 'The query is empty.', 'Give q (text), an image, or both.');
    const result = await kb.search({ text, ...(image ? { imageBytes: image } : {}) }, opts);
    return {
      query: result.query,
      level: result.level,
      mode: result.mode,
      text: result.text.map(hitView),
      images: result.images.map(hitView),
    };
  };

  app.get('/api/search', async (c) => {
    const body = searchOptionsFromFields((name) => c.req.query(name));
    return c.json(await searchResponse(body.q, undefined, searchOptionsOf(body, kb.config)));
  });

  app.post(
    '/api/search',
    bodyLimit({
      maxSize: 64 * 1024 * 1024,
      onError: () => {
        throw httpError('too_large', 'The query picture is over 64 MB.');
      },
    }),
    async (c) => {
      const type = c.req.header('content-type') ?? '';
      if (type.includes('application/json')) {
        const body = validation(searchBodySchema, await readJson(c));
        return c.json(await searchResponse(body.q, undefined, searchOptionsOf(body, kb.config)));
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
      const body = searchOptionsFromFields(field);
      const opts = searchOptionsOf(body, kb.config);
      const image = form.get('image');
      if (image !== null && typeof image === 'string')
        throw httpError('bad_request', 'The field "image" must be a file.');
      // The picture goes to the embedder from memory: no temporary file.
      const bytes = image ? new Uint8Array(await image.arrayBuffer()) : undefined;
      return c.json(await searchResponse(body.q, bytes, opts));
    },
  );

  app.post(
    '/api/ask',
    bodyLimit({
      maxSize: 4 * 1024 * 1024,
      onError: () => {
        throw httpError('too_large', 'The question and history are over 4 MB.');
      },
    }),
    async (c) => {
      const body = validation(askSchema, await readJson(c));
      const opts = searchOptionsOf(body, kb.config);
      const llmConfig = llmOverride(body.llm);
      const run = async (signal: AbortSignal | undefined, onToken?: (piece: string) => void) => {
        const askOptions: AskOptions = {
          ...opts,
          ...(body.history?.length ? { history: body.history } : {}),
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
      const shape = (result: AskResult) => ({
        question: result.question,
        answer: result.answer,
        sources: result.sources.map(hitView),
        model: result.model,
        citations: result.citations,
        level: result.level,
        ...(result.error ? { error: result.error } : {}),
      });
      if (!wantsEventStream(c)) return c.json(shape(await run(c.req.raw.signal)));
      return sseResponse(async (send, signal) => {
        try {
          const result = await run(signal, (piece) => send('token', piece));
          if (signal.aborted) return;
          const view = shape(result);
          send('sources', JSON.stringify(view.sources));
          send(
            'done',
            JSON.stringify({
              model: view.model,
              citations: view.citations,
              answer: view.answer,
              level: view.level,
              ...(view.error ? { error: view.error } : {}),
            }),
          );
        } catch (err) {
          send('error', JSON.stringify(errorBody(err).body.error));
        }
      }, c.req.raw.signal);
    },
  );

  // ---- sources, items, media ----
  const sourceById = async (id: string) => {
    if (!SOURCE_ID.test(id)) throw httpError('bad_request', `"${id}" is not a source id (16 hex digits).`);
    const record = (await kb.sources()).find((r) => sourceId(r.source) === id);
    if (!record)
      throw httpError(
        'not_found',
        `No source ${id} in this knowledge base.`,
        'List them with GET /api/sources.',
      );
    return record;
  };

  app.get('/api/sources', async (c) => {
    const records = await kb.sources();
    return c.json({
      sources: records.map((r) => sourceView(r, uploadsDir)).sort((a, b) => b.ingestedAt - a.ingestedAt),
    });
  });

  app.delete('/api/sources/:id', async (c) => {
    const record = await sourceById(c.req.param('id'));
    const removed = await jobs.exclusive(() => removeSource(record.source));
    return c.json({ id: sourceId(record.source), source: record.source, removed });
  });

  app.get('/api/sources/:id/items', async (c) => {
    const record = await sourceById(c.req.param('id'));
    const items = await kb.items(record.source);
    return c.json({ source: sourceView(record, uploadsDir), items: items.map(itemView) });
  });

  const checkItemId = (id: string) => {
    if (!ITEM_ID.test(id)) throw httpError('bad_request', `"${id}" is not an item id (hex digits).`);
  };

  app.get('/api/items/:id', async (c) => {
    const id = c.req.param('id');
    checkItemId(id);
    const item = await kb.item(id);
    if (!item) throw httpError('not_found', `No item ${id} in this knowledge base.`);
    return c.json(itemView(item));
  });

  app.get('/api/media/:id', async (c) => {
    const id = c.req.param('id');
    checkItemId(id);
    const media = await kb.media(id);
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

  // ---- the web app ----
  app.get('*', async (c) => {
    if (c.req.path.startsWith('/api/')) return c.notFound();
    const file = await staticFile(c.req.path, webRoot);
    if (!file) {
      if (c.req.path === '/' || c.req.path === '/index.html') {
        return c.html(NOT_BUILT_PAGE, existsSync(resolve(webRoot)) ? 500 : 200);
      }
      return c.text('Not found', 404);
    }
    const headers: Record<string, string> = { 'content-type': file.type, 'cache-control': file.cacheControl };
    if (file.type.startsWith('text/html')) headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
    return new Response(file.body, { status: 200, headers });
  });

  return { app, jobs, uploadsDir };
}
