/**
 * The HTTP contract of `mmrag serve`, written once: the zod schemas below validate requests (in the route modules of
 * ./routes), generate the OpenAPI document served at /api/openapi.json, and give the web app its wire types
 * (web/src/api.ts imports the types at the end of this file).
 *
 * This module runs in two worlds, so it imports nothing but zod (through @hono/zod-openapi, which adds `.openapi()`)
 * and types: the server loads it in Node, and `tsc -p web/tsconfig.json` type-checks it for the browser.
 */
import { z } from '@hono/zod-openapi';
import type { SourceType } from '../types.js';

// ---- identifiers ----

/** Item ids are hex digests; anything else in a media or item URL is refused before any lookup. */
export const ITEM_ID = /^[0-9a-f]{8,64}$/;
/** Source ids: the first 16 hex digits of the sha256 of the source's stored name. */
export const SOURCE_ID = /^[0-9a-f]{16}$/;

/**
 * A path parameter checked by `pattern`. The message names the value and is the whole error message (the issue is
 * marked `complete`, so the validation hook does not wrap it in "Invalid request: ...").
 */
function idParam(pattern: RegExp, what: string, description: string) {
  return z
    .string()
    .refine((id) => pattern.test(id), {
      error: (issue) => `"${String(issue.input)}" is not ${what}.`,
      params: { complete: true },
    })
    .openapi({ pattern: pattern.source, description, param: { description } });
}

export const itemIdParams = z.object({
  id: idParam(ITEM_ID, 'an item id (hex digits)', 'item id (hex digits, from a hit or an item list)').openapi(
    {
      example: '3f2a9c01d4e5b6a7',
    },
  ),
});

export const sourceIdParams = z.object({
  id: idParam(
    SOURCE_ID,
    'a source id (16 hex digits)',
    'source id (16 hex digits, from GET /api/sources)',
  ).openapi({ example: '9b1d4c7e2f0a8d35' }),
});

export const jobIdParams = z.object({
  id: z.string().openapi({
    description: 'job id (from POST /api/ingest)',
    param: { description: 'job id (from POST /api/ingest)' },
  }),
});

// ---- errors ----

export const errorDetailSchema = z
  .object({
    code: z.string().openapi({ description: 'stable machine-readable code', example: 'not_found' }),
    message: z.string().openapi({ description: 'what went wrong, for a person' }),
    hint: z.string().optional().openapi({ description: 'what to do about it' }),
  })
  .openapi('ErrorDetail');

export const errorBodySchema = z.object({ error: errorDetailSchema }).openapi('Error', {
  description: 'Every error: a status code and this body.',
  example: {
    error: {
      code: 'bad_request',
      message: 'Invalid request: question: Too small: expected string to have >=1 characters.',
      hint: 'See /api/openapi.json for the fields.',
    },
  },
});

// ---- shared enums ----

const SOURCE_TYPES = [
  'html',
  'pdf',
  'docx',
  'pptx',
  'xlsx',
  'csv',
  'markdown',
  'text',
  'json',
  'image',
  'audio',
  'video',
  'subtitles',
] as const satisfies readonly SourceType[];

/** Fails to compile when src/types.ts gains a source type this list lacks. */
export type EverySourceTypeListed =
  Exclude<SourceType, (typeof SOURCE_TYPES)[number]> extends never ? true : never;
export const everySourceTypeListed: EverySourceTypeListed = true;

export const sourceTypeSchema = z
  .enum(SOURCE_TYPES)
  .openapi({ description: 'the loader that read the file' });

export const itemTypeSchema = z.enum([...SOURCE_TYPES, 'page']).openapi({
  description:
    'the loader that read its source, or `page`: a PDF page or a slide rendered whole to a picture (its source keeps the loader type)',
});

export const modalitySchema = z.enum(['text', 'image']);

export const levelSchema = z.union([z.literal(1), z.literal(2), z.literal(3)]).openapi({
  description:
    '1: text forms only (no pictures to the model); 2: text forms retrieved, pictures to the model; 3: multimodal (CLIP space)',
});

export const modeSchema = z
  .enum(['hybrid', 'vector', 'bm25'])
  .openapi({ description: 'hybrid (vector and BM25 rankings fused), vector only, or BM25 only' });

export const scoringSchema = z
  .enum(['softmax', 'cosine'])
  .openapi({ description: 'cosine similarity (stable at any corpus size) or the reference softmax' });

// ---- search options (requests) ----

const modalityOptionsSchema = z
  .object({
    k: z.number().int().min(0).max(500).openapi({ description: 'results to keep' }),
    threshold: z
      .number()
      .min(-1e6)
      .max(1e6)
      .openapi({ description: 'minimum score (softmax probability or cosine similarity)' }),
    temperature: z.number().positive().max(1e6).openapi({ description: 'softmax temperature' }),
  })
  .partial()
  .strict()
  .openapi('ModalityOptions');

/** The options of a search or a question; unset ones take the server's configuration. */
export const searchOptionsSchema = z
  .object({
    scoring: scoringSchema.optional(),
    text: modalityOptionsSchema.optional(),
    image: modalityOptionsSchema.optional(),
    level: levelSchema.optional(),
    mode: modeSchema.optional(),
    where: z.string().max(4000).optional().openapi({
      description:
        'a filter in the --where language, checked by its parser before anything runs (a 400 with the reason)',
      example: 'type = pdf and page >= 3',
    }),
    diversity: z
      .number()
      .gt(0)
      .max(1)
      .optional()
      .openapi({ description: 'MMR lambda in (0, 1]: lower is more diverse' }),
    rerank: z.boolean().optional().openapi({
      description:
        'rerank with the configured reranker (default: when one is configured; true without one is a 400)',
    }),
  })
  .openapi('SearchOptions');

export const searchBodySchema = searchOptionsSchema
  .extend({ q: z.string().max(8000).optional().openapi({ description: 'the text to look for' }) })
  .openapi('SearchRequest', { example: { q: 'a red circle', level: 3, text: { k: 5 } } });

export const askBodySchema = searchOptionsSchema
  .extend({
    question: z.string().trim().min(1).max(8000),
    history: z
      .array(z.object({ role: z.enum(['user', 'assistant']), content: z.string().max(50_000) }).strict())
      .max(100)
      .optional()
      .openapi({
        description: 'the conversation so far, oldest first (the model sees it before the question)',
      }),
    gate: z.boolean().optional().openapi({
      description:
        'the answerability gate (default on): false asks the model even when nothing in the knowledge base is close to the question',
    }),
    llm: z
      .object({
        provider: z.enum(['auto', 'ollama', 'openai', 'none']).optional().openapi({
          description:
            'only the configured provider, or `none` (sources without an answer): a client cannot switch to a provider or address the operator did not configure (400)',
        }),
        model: z.string().trim().min(1).max(200).optional().openapi({
          description:
            'one of the models the server offers (`answering.models` in /api/config: the configured one and `server.llm.allowModels`); another is a 400',
        }),
      })
      .strict()
      .optional()
      .openapi({ description: 'the answering model for this question only, among those the server offers' }),
    prompt: z.enum(['mmrag', 'reference']).optional().openapi({
      description:
        "the prompt to send: `mmrag` (numbered sources the answer cites) or `reference` (the reference pipeline's prompt, word for word); default: the server's `llm.prompt`",
    }),
  })
  .openapi('AskRequest', { example: { question: 'Which shape marks the fuel dock?', level: 2 } });

export const urlsSchema = z
  .array(
    z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'only http and https URLs'),
  )
  .min(1)
  .max(100)
  .openapi({ description: 'http(s) pages to fetch and ingest (private addresses refused unless allowed)' });

export const ingestUrlsBodySchema = z
  .object({ urls: urlsSchema })
  .openapi('IngestUrls', { example: { urls: ['https://example.org/article.html'] } });

const fileSchema = z.file().openapi({ type: 'string', format: 'binary' });

export const ingestUploadSchema = z
  .object({
    files: z.array(fileSchema).openapi({
      description:
        'one or more files; a file name may be a relative path (site/page.html) so that a folder upload keeps its pictures with their page',
    }),
  })
  .openapi('IngestUpload');

// Search options as query-string or multipart fields (`textK`, `imageThreshold`, `rerank=true`, ...). A field holds
// text: numbers and booleans are read from it first (a field that is not one is refused with a message naming it),
// then checked by the same rules as the JSON options above.

const firstValue = (value: unknown) => (Array.isArray(value) ? value[0] : value);
const emptyAsUnset = (value: unknown) => {
  const first = firstValue(value);
  return first === '' ? undefined : first;
};

function numberField<T extends z.ZodType>(name: string, schema: T) {
  return z.preprocess((value, ctx) => {
    const raw = firstValue(value);
    if (raw === undefined || raw === '') return undefined;
    if (typeof raw !== 'string') return raw;
    const n = Number(raw);
    if (Number.isFinite(n)) return n;
    ctx.addIssue({
      code: 'custom',
      message: `${name} must be a number, got "${String(raw)}".`,
      params: { complete: true },
    });
    return z.NEVER;
  }, schema);
}

function booleanField<T extends z.ZodType>(name: string, schema: T) {
  return z.preprocess((value, ctx) => {
    const raw = firstValue(value);
    const word = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
    if (word === undefined || word === '') return undefined;
    if (['true', '1', 'yes', 'on'].includes(String(word))) return true;
    if (['false', '0', 'no', 'off'].includes(String(word))) return false;
    ctx.addIssue({
      code: 'custom',
      message: `${name} must be true or false, got "${String(raw)}".`,
      params: { complete: true },
    });
    return z.NEVER;
  }, schema);
}

const modalityField = modalityOptionsSchema.shape;
const optionField = searchOptionsSchema.shape;

/**
 * The search options as flat fields, in the order the server checks them. `FIELD_PATHS` maps a field to its place
 * in the JSON options (`textK` -> `text.k`), so that both forms of a request get the same error message.
 */
export const searchFieldsSchema = z
  .object({
    q: z.preprocess(firstValue, searchBodySchema.shape.q),
    scoring: z.preprocess(emptyAsUnset, optionField.scoring),
    textK: numberField('textK', modalityField.k),
    textThreshold: numberField('textThreshold', modalityField.threshold),
    textTemperature: numberField('textTemperature', modalityField.temperature),
    imageK: numberField('imageK', modalityField.k),
    imageThreshold: numberField('imageThreshold', modalityField.threshold),
    imageTemperature: numberField('imageTemperature', modalityField.temperature),
    level: numberField('level', optionField.level),
    mode: z.preprocess(emptyAsUnset, optionField.mode),
    where: z.preprocess(emptyAsUnset, optionField.where),
    diversity: numberField('diversity', optionField.diversity),
    rerank: booleanField('rerank', optionField.rerank),
  })
  .openapi('SearchFields');

export const FIELD_PATHS: Record<string, string> = {
  textK: 'text.k',
  textThreshold: 'text.threshold',
  textTemperature: 'text.temperature',
  imageK: 'image.k',
  imageThreshold: 'image.threshold',
  imageTemperature: 'image.temperature',
};

export const pictureSearchSchema = searchFieldsSchema
  .extend({
    image: fileSchema.optional().openapi({
      description: 'the query picture (level 3 only); read from memory, never written to disk',
    }),
  })
  .openapi('PictureSearch');

// ---- results ----

export const boxSchema = z.tuple([z.number(), z.number(), z.number(), z.number()]).openapi('Box', {
  description: '[x0, y0, x1, y1] as fractions of the page (or picture) width and height, origin top left',
  example: [0.118, 0.081, 0.52, 0.097],
});

export const locationSchema = z
  .object({
    page: z.number().int().optional().openapi({ description: '1-based PDF page' }),
    boxes: z.array(boxSchema).optional().openapi({
      description:
        'where on the page: one box per line of a PDF text chunk (or of text read from a scanned page), one box for a picture cut from a page',
    }),
    slide: z.number().int().optional().openapi({ description: '1-based slide' }),
    sheet: z.string().optional(),
    rows: z
      .tuple([z.number().int(), z.number().int()])
      .optional()
      .openapi({ description: '1-based spreadsheet rows, first and last (header = row 1)' }),
    start: z.number().optional().openapi({ description: 'seconds from the start of a recording' }),
    end: z.number().optional().openapi({ description: 'seconds' }),
  })
  .openapi('Location', { description: 'Where inside its source an item sits.' });

export const hitSchema = z
  .object({
    id: z.string(),
    modality: modalitySchema,
    score: z.number().openapi({ description: 'the score the threshold was applied to' }),
    similarity: z.number().openapi({ description: 'the raw dot product of query and item vectors' }),
    title: z.string(),
    section: z.string(),
    source: z.string(),
    type: itemTypeSchema,
    location: locationSchema.optional(),
    text: z.string().optional().openapi({ description: 'text hits: the snippet' }),
    caption: z.string().optional().openapi({ description: 'picture hits: the caption' }),
    image: z
      .string()
      .optional()
      .openapi({ description: 'picture hits: the stored picture on the server (not fetchable)' }),
    description: z.string().optional().openapi({
      description: 'picture hits: the description a multimodal model wrote at ingest, when there is one',
    }),
    scores: z
      .object({ vector: z.number().optional(), bm25: z.number().optional(), rerank: z.number().optional() })
      .optional()
      .openapi({ description: 'how each retriever scored the hit (hybrid, BM25 and reranked searches)' }),
    relevance: z
      .object({
        kind: z.enum(['cosine', 'softmax', 'bm25', 'rerank', 'fused']),
        value: z.number(),
      })
      .optional()
      .openapi({
        description:
          'the score a person can read, with its kind: the reranker score, else the score of the ranking that placed the hit highest (`score` may be a fused rank score, which only orders hits)',
        example: { kind: 'cosine', value: 0.81 },
      }),
    mediaUrl: z.string().optional().openapi({ description: 'picture hits: GET this URL for the picture' }),
  })
  .openapi('Hit', {
    description: 'One search result, as `mmrag search --json` prints it, plus mediaUrl for pictures.',
  });

export const searchResultSchema = z
  .object({
    query: z.string(),
    level: levelSchema.optional().openapi({ description: 'the level that searched' }),
    mode: modeSchema.optional(),
    text: z.array(hitSchema),
    images: z.array(hitSchema),
  })
  .openapi('SearchResult');

const scoresBySignal = z.object({ vector: z.number().optional(), bm25: z.number().optional() });

export const answerabilitySchema = z
  .object({
    answerable: z.boolean(),
    because: z
      .array(z.enum(['text.vector', 'text.bm25', 'image.vector', 'image.bm25']))
      .openapi({ description: 'the evidence that cleared its floor (empty: none did)' }),
    evidence: z
      .object({ text: scoresBySignal, image: scoresBySignal })
      .openapi({ description: 'the best cosine and BM25 score (per content word) of each modality' }),
    floors: z
      .object({
        text: z.object({ vector: z.number(), bm25: z.number() }),
        image: z.object({ vector: z.number(), bm25: z.number() }),
        probes: z.number().int(),
      })
      .openapi({ description: 'the scores unrelated probe questions do not exceed in this knowledge base' }),
  })
  .openapi('Answerability', { description: "The answerability gate's verdict and what it weighed." });

export const attachedPictureSchema = z
  .object({
    id: z.string().openapi({ description: 'the item the picture is of' }),
    path: z.string().openapi({ description: "the stored copy, as the prompt's Image Path names it" }),
    mediaUrl: z.string().openapi({ description: 'GET this URL for the picture' }),
  })
  .openapi('AttachedPicture', { description: 'A picture sent to the model with the prompt.' });

export const askPromptSchema = z
  .object({
    prompt: z.string().openapi({ description: 'the text the model is sent, exactly' }),
    attached: z
      .array(attachedPictureSchema)
      .openapi({ description: 'the pictures sent with it, in order (none at level 1)' }),
    level: levelSchema,
    willAnswer: z
      .boolean()
      .openapi({ description: 'whether a model is asked (false: the sources are the answer)' }),
  })
  .openapi('AskPrompt');

export const askResultSchema = z
  .object({
    question: z.string(),
    answer: z.string().nullable().openapi({ description: 'null when no model answered (see error)' }),
    sources: z.array(hitSchema).openapi({ description: 'numbered 1.. in this order' }),
    model: z.string().nullable().openapi({ description: '`provider/model`, or null when no model answered' }),
    citations: z.array(z.number().int()).openapi({ description: 'source numbers the answer cites as [n]' }),
    level: levelSchema.openapi({ description: 'the level that answered (1: the model saw no pictures)' }),
    answerable: z.boolean().openapi({
      description:
        'false: nothing in the knowledge base is close enough to the question; the model was not asked, the answer says the documents do not say, and the sources are the closest ones',
    }),
    answerability: answerabilitySchema.optional(),
    error: errorDetailSchema
      .optional()
      .openapi({ description: 'why there is no answer (code llm_none: no model)' }),
    prompt: z
      .string()
      .openapi({ description: 'the text the model was sent (or would have been sent), exactly' }),
    attached: z
      .array(attachedPictureSchema)
      .openapi({ description: 'the pictures sent with the prompt, in order (none at level 1)' }),
  })
  .openapi('AskResult');

/** The last event of an answer stream. */
export const askDoneSchema = askResultSchema
  .pick({ model: true, citations: true, answer: true, level: true, answerable: true, error: true })
  .openapi('AskDone');

export const sourceSchema = z
  .object({
    id: z.string().openapi({ description: 'use in /api/sources/{id}' }),
    name: z.string().openapi({ description: 'the uploaded file name, or the path it was ingested from' }),
    uploaded: z.boolean(),
    source: z.string(),
    type: sourceTypeSchema,
    hash: z.string().openapi({ description: "sha256 of the file's bytes" }),
    version: z.string(),
    items: z.number().int(),
    textItems: z.number().int(),
    imageItems: z.number().int(),
    bytes: z.number().int(),
    ingestedAt: z.number().int().openapi({ description: 'milliseconds since the epoch' }),
  })
  .openapi('Source');

export const itemSchema = z
  .object({
    id: z.string(),
    modality: modalitySchema,
    type: itemTypeSchema,
    source: z.string(),
    title: z.string(),
    section: z.string(),
    text: z.string().openapi({ description: 'the chunk (text) or the caption (picture)' }),
    description: z.string().optional().openapi({ description: "pictures: a multimodal model's description" }),
    location: locationSchema.optional(),
    ingestedAt: z.number().int(),
    mediaUrl: z.string().optional(),
  })
  .openapi('Item');

/** What the web app's viewer shows for an item: its page with boxes, its picture, or its recording at its time. */
export const itemViewSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['page', 'picture', 'recording', 'text']).openapi({
      description:
        '`page`: show `page` with `boxes` drawn on it (text from a PDF or a slide, a page picture); `picture`: show `picture` (and `page` when the picture was cut from one); `recording`: play `recording` from `start`; `text`: nothing more to show than the text',
    }),
    type: itemTypeSchema,
    title: z.string(),
    section: z.string(),
    source: z.string(),
    text: z.string().openapi({ description: 'the chunk (text) or the caption (picture)' }),
    location: locationSchema.optional(),
    page: z
      .object({
        id: z.string().openapi({ description: 'the `page` item: the page or slide rendered whole' }),
        mediaUrl: z.string().openapi({ description: 'GET this URL for the page picture' }),
        unit: z.enum(['page', 'slide']),
        number: z.number().int().openapi({ description: '1-based page or slide' }),
        boxes: z.array(boxSchema).openapi({
          description: 'where the item is on the page (empty: the whole page, or not known)',
        }),
      })
      .optional(),
    picture: z
      .object({ mediaUrl: z.string(), caption: z.string(), description: z.string().optional() })
      .optional(),
    recording: z
      .object({
        url: z.string().openapi({
          description: 'GET this URL for the original recording (byte ranges supported, for seeking)',
        }),
        mime: z.string(),
        media: z.enum(['audio', 'video']),
        start: z.number().openapi({ description: 'seconds: where the item starts' }),
        end: z.number().optional(),
      })
      .optional(),
  })
  .openapi('ItemView', { description: 'What the viewer needs to show an item where it is in its source.' });

export const sourcesSchema = z.object({ sources: z.array(sourceSchema) }).openapi('Sources');

export const sourceItemsSchema = z
  .object({ source: sourceSchema, items: z.array(itemSchema) })
  .openapi('SourceItems');

export const deletedSourceSchema = z
  .object({
    id: z.string(),
    source: z.string(),
    removed: z.number().int().openapi({ description: 'items removed' }),
  })
  .openapi('DeletedSource');

// ---- jobs (the job layer's types, src/jobs/queue.ts, on the wire; routes/jobs.ts checks that both agree) ----

export const jobStatusSchema = z.enum(['queued', 'running', 'done', 'failed']);

export const jobFileSchema = z
  .object({
    name: z
      .string()
      .openapi({ description: 'the file name as uploaded, or the path for server-side ingest' }),
    status: z.enum(['processing', 'ingested', 'unchanged', 'skipped', 'failed']),
    type: sourceTypeSchema.optional(),
    items: z.number().int(),
    textItems: z.number().int(),
    imageItems: z.number().int(),
    warnings: z.array(z.string()),
    reason: z.string().optional().openapi({ description: 'why the file failed or was skipped' }),
    progress: z.object({ done: z.number().int(), total: z.number().int() }).optional().openapi({
      description: 'while a large file is embedded: its items embedded so far (`done`) of all its items',
    }),
  })
  .openapi('JobFile');

const typeCountsSchema = z.object({
  ingested: z.number().int(),
  unchanged: z.number().int(),
  skipped: z.number().int(),
  failed: z.number().int(),
  items: z.number().int(),
});

export const jobSummarySchema = z
  .object({
    files: z.number().int(),
    ingested: z.number().int(),
    unchanged: z.number().int(),
    skipped: z.number().int(),
    failed: z.number().int(),
    items: z.number().int(),
    textItems: z.number().int(),
    imageItems: z.number().int(),
    seconds: z.number(),
    byType: z
      .partialRecord(z.enum([...SOURCE_TYPES, 'unknown']), typeCountsSchema)
      .openapi({ description: 'counts per source type' }),
    warnings: z
      .object({ total: z.number().int(), pictures: z.number().int(), network: z.number().int() })
      .openapi({
        description:
          'problems that did not stop a file (listed per file): how many, how many were pictures left out, how many were network failures',
      }),
    pruned: z.array(z.string()).optional(),
  })
  .openapi('JobSummary');

export const jobSchema = z
  .object({
    id: z.string(),
    label: z
      .string()
      .openapi({ description: 'what the job ingests, for a person: a file name, "12 files", a web address' }),
    status: jobStatusSchema,
    createdAt: z.number().int(),
    startedAt: z.number().int().optional(),
    finishedAt: z.number().int().optional(),
    uploaded: z.number().int().openapi({ description: 'files received in the upload' }),
    total: z.number().int().optional().openapi({ description: 'files to process, known once the job runs' }),
    files: z.array(jobFileSchema),
    summary: jobSummarySchema.optional(),
    error: errorDetailSchema.optional(),
  })
  .openapi('Job');

export const jobsSchema = z.object({ jobs: z.array(jobSchema) }).openapi('Jobs');

export const ingestAcceptedSchema = z
  .object({ id: z.string(), status: jobStatusSchema, uploaded: z.number().int() })
  .openapi('IngestAccepted', { description: 'Queued: follow /api/jobs/{id}/events.' });

// ---- Server-Sent Events ----

/**
 * One Server-Sent Event: on the wire, an `event: <event>` line and `data:` lines carrying `data` (as JSON, except
 * where a schema is plain text).
 */
function sseEvent<const E extends string, T extends z.ZodType>(event: E, data: T, description: string) {
  return z.object({ event: z.literal(event), data }).openapi({ description });
}

export const askEventSchema = z
  .discriminatedUnion('event', [
    sseEvent(
      'sources',
      z.array(hitSchema),
      'the retrieved hits, numbered 1.. in this order, as soon as retrieval is done',
    ),
    sseEvent('prompt', askPromptSchema, 'what the model is sent, right after the sources'),
    sseEvent('token', z.string(), 'a piece of the answer (plain text), as the model writes it'),
    sseEvent('done', askDoneSchema, 'the end of the answer'),
    sseEvent('error', errorDetailSchema, 'retrieval or answering failed'),
  ])
  .openapi('AskEvent', {
    description:
      'The answer stream: `sources` and `prompt` once retrieval is done, `token` ..., then `done`; or `error`. Closing the connection stops the model.',
  });

export const jobEventSchema = z
  .discriminatedUnion('event', [
    sseEvent('job', jobSchema, 'the job (first, and whenever its state changes)'),
    sseEvent(
      'file',
      z.object({ index: z.number().int(), file: jobFileSchema }),
      'a file started, progressed (`progress`, a few times a second at most) or finished (index in the job files)',
    ),
    sseEvent('done', jobSchema, 'the finished job (the last event)'),
  ])
  .openapi('JobEvent', {
    description:
      'The progress stream of one job: `job`, `file` per file started, progressing and finished, then `done`.',
  });

// ---- service ----

export const healthSchema = z.object({ status: z.literal('ok'), version: z.string() }).openapi('Health');

const modalitySettingsSchema = z.looseObject({
  k: z.number(),
  threshold: z.number(),
  temperature: z.number(),
});

/** The server's configuration as /api/config shows it: secrets masked as `***`, other settings as in the file. */
export const serverSettingsSchema = z
  .looseObject({
    kb: z.string().openapi({ description: 'the knowledge base folder (or URL)' }),
    search: z.looseObject({
      scoring: scoringSchema,
      level: levelSchema,
      mode: modeSchema,
      diversity: z.number().optional(),
      text: modalitySettingsSchema,
      image: modalitySettingsSchema,
      cosine: z.looseObject({
        text: z.looseObject({ threshold: z.number() }),
        image: z.looseObject({ threshold: z.number() }),
      }),
    }),
    llm: z.looseObject({
      provider: z.string(),
      model: z.string().optional(),
      url: z.string().optional(),
      prompt: z.enum(['mmrag', 'reference']).optional(),
    }),
  })
  .openapi('ServerSettings');

export const serverConfigSchema = z
  .object({
    version: z.string(),
    config: serverSettingsSchema,
    embedModel: z.string(),
    levels: z.array(levelSchema).openapi({ description: 'levels a request may ask for' }),
    level: levelSchema.openapi({ description: 'the configured level' }),
    mode: modeSchema.openapi({ description: 'the configured mode' }),
    rerank: z.boolean().openapi({ description: 'whether a reranker is configured' }),
    answering: z
      .object({
        provider: z.string().openapi({ description: 'the configured provider' }),
        model: z
          .string()
          .optional()
          .openapi({ description: "the configured model (unset: the provider's default)" }),
        models: z.array(z.string()).openapi({
          description:
            'models a question may ask for (`llm.model`): the configured one and `server.llm.allowModels`',
        }),
      })
      .openapi({
        description:
          'what a question may choose: one of `models`, or provider `none`; never another provider or address',
      }),
    tokenRequired: z.boolean(),
    urlIngest: z.boolean(),
    limits: z.object({
      maxUploadBytes: z.number().int().openapi({ description: 'most bytes of one upload request' }),
      maxUploadFiles: z.number().int().openapi({ description: 'most files of one upload request' }),
      maxFileBytes: z.number().int().openapi({ description: 'most bytes of one file' }),
      maxInFlightBytes: z.number().int().openapi({
        description: 'most bytes received across all uploads at once (over it: 503 with Retry-After)',
      }),
    }),
  })
  .openapi('ServerConfig');

export const statsSchema = z
  .object({
    dir: z.string(),
    embedModel: z.string().optional(),
    dim: z.number().int().optional(),
    sources: z.number().int(),
    textItems: z.number().int(),
    imageItems: z.number().int(),
  })
  .openapi('Stats');

export const openApiDocumentSchema = z
  .looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }) })
  .openapi('OpenApiDocument', { description: 'This document (OpenAPI 3.1).' });

// ---- the wire types (what the web app imports) ----

export type ErrorDetail = z.infer<typeof errorDetailSchema>;
export type ErrorBody = z.infer<typeof errorBodySchema>;
export type Level = z.infer<typeof levelSchema>;
export type SearchMode = z.infer<typeof modeSchema>;
export type Scoring = z.infer<typeof scoringSchema>;
export type Location = z.infer<typeof locationSchema>;
export type Hit = z.infer<typeof hitSchema>;
export type SearchResult = z.infer<typeof searchResultSchema>;
export type SearchOptions = z.input<typeof searchOptionsSchema>;
export type SearchRequest = z.input<typeof searchBodySchema>;
export type AskRequest = z.input<typeof askBodySchema>;
export type AskResult = z.infer<typeof askResultSchema>;
export type AskDone = z.infer<typeof askDoneSchema>;
export type AskEvent = z.infer<typeof askEventSchema>;
export type AskPrompt = z.infer<typeof askPromptSchema>;
export type AttachedPicture = z.infer<typeof attachedPictureSchema>;
export type Source = z.infer<typeof sourceSchema>;
export type Sources = z.infer<typeof sourcesSchema>;
export type SourceItems = z.infer<typeof sourceItemsSchema>;
export type Item = z.infer<typeof itemSchema>;
export type ItemView = z.infer<typeof itemViewSchema>;
export type Box = z.infer<typeof boxSchema>;
export type DeletedSource = z.infer<typeof deletedSourceSchema>;
export type Job = z.infer<typeof jobSchema>;
export type JobFile = z.infer<typeof jobFileSchema>;
export type JobEvent = z.infer<typeof jobEventSchema>;
export type Jobs = z.infer<typeof jobsSchema>;
export type IngestUrls = z.input<typeof ingestUrlsBodySchema>;
export type IngestAccepted = z.infer<typeof ingestAcceptedSchema>;
export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type Stats = z.infer<typeof statsSchema>;
