/** The OpenAPI 3.1 description of the HTTP API, served at /api/openapi.json (a test checks it against the app). */

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const eventStream = (description: string) => ({
  'text/event-stream': { schema: { type: 'string', description } },
});

function errorResponse(description: string) {
  return { description, content: json(ref('Error')) };
}

const ERRORS = {
  400: errorResponse('Invalid request (the message says which field).'),
  401: errorResponse('A token is required: send Authorization: Bearer <token>.'),
};

const idParam = (description: string, pattern: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description,
  schema: { type: 'string', pattern },
});

const modalityOptions: Schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    k: { type: 'integer', minimum: 0, maximum: 500, description: 'results to keep' },
    threshold: { type: 'number', description: 'minimum score (softmax probability or cosine similarity)' },
    temperature: { type: 'number', exclusiveMinimum: 0, description: 'softmax temperature' },
  },
};

const LEVEL: Schema = {
  type: 'integer',
  enum: [1, 2, 3],
  description:
    '1: text forms only (no pictures to the model); 2: text forms retrieved, pictures to the model; 3: multimodal (CLIP space). Default: the configured level',
};
const MODE: Schema = {
  type: 'string',
  enum: ['hybrid', 'vector', 'bm25'],
  description: 'hybrid (vector + BM25 fused), vector only, or BM25 only. Default: the configured mode',
};
const WHERE: Schema = {
  type: 'string',
  description:
    'a filter in the --where language, e.g. `type = pdf and page >= 3`; a filter that does not parse is a 400 with the reason',
};
const DIVERSITY: Schema = {
  type: 'number',
  exclusiveMinimum: 0,
  maximum: 1,
  description: 'MMR lambda: lower is more diverse',
};
const RERANK: Schema = {
  type: 'boolean',
  description:
    'rerank with the configured reranker (default: when one is configured; true without one is a 400)',
};

/** Search options as query-string or multipart fields. */
const searchFieldSchemas: Record<string, Schema> = {
  scoring: { type: 'string', enum: ['cosine', 'softmax'] },
  textK: { type: 'number' },
  imageK: { type: 'number' },
  textThreshold: { type: 'number' },
  imageThreshold: { type: 'number' },
  textTemperature: { type: 'number' },
  imageTemperature: { type: 'number' },
  level: LEVEL,
  mode: MODE,
  where: WHERE,
  diversity: DIVERSITY,
  rerank: RERANK,
};

const searchQueryParams = [
  { name: 'q', in: 'query', required: true, schema: { type: 'string' }, description: 'the text to look for' },
  ...Object.entries(searchFieldSchemas).map(([name, schema]) => ({
    name,
    in: 'query',
    required: false,
    schema,
  })),
];

const schemas: Record<string, Schema> = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', description: 'stable machine-readable code, e.g. not_found' },
          message: { type: 'string', description: 'what went wrong, for a person' },
          hint: { type: 'string', description: 'what to do about it' },
        },
      },
    },
  },
  Location: {
    type: 'object',
    properties: {
      page: { type: 'integer' },
      slide: { type: 'integer' },
      sheet: { type: 'string' },
      rows: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 2 },
      start: { type: 'number', description: 'seconds' },
      end: { type: 'number', description: 'seconds' },
    },
  },
  Hit: {
    type: 'object',
    description: 'One search result, as `mmrag search --json` prints it, plus mediaUrl for pictures.',
    required: ['id', 'modality', 'score', 'similarity', 'title', 'section', 'source', 'type'],
    properties: {
      id: { type: 'string' },
      modality: { type: 'string', enum: ['text', 'image'] },
      score: { type: 'number' },
      similarity: { type: 'number' },
      title: { type: 'string' },
      section: { type: 'string' },
      source: { type: 'string' },
      type: { type: 'string' },
      location: ref('Location'),
      text: { type: 'string', description: 'text hits: the snippet' },
      caption: { type: 'string', description: 'picture hits: the caption' },
      image: {
        type: 'string',
        description: 'picture hits: the stored picture on the server (not fetchable)',
      },
      description: {
        type: 'string',
        description: 'picture hits: the description a multimodal model wrote at ingest, when there is one',
      },
      scores: {
        type: 'object',
        description: 'how each retriever scored the hit (hybrid, BM25 and reranked searches)',
        properties: { vector: { type: 'number' }, bm25: { type: 'number' }, rerank: { type: 'number' } },
      },
      mediaUrl: { type: 'string', description: 'picture hits: GET this URL for the picture' },
    },
  },
  SearchResult: {
    type: 'object',
    required: ['query', 'text', 'images'],
    properties: {
      query: { type: 'string' },
      level: { type: 'integer', enum: [1, 2, 3], description: 'the level that searched' },
      mode: { type: 'string', enum: ['hybrid', 'vector', 'bm25'] },
      text: { type: 'array', items: ref('Hit') },
      images: { type: 'array', items: ref('Hit') },
    },
  },
  SearchOptions: {
    type: 'object',
    properties: {
      scoring: { type: 'string', enum: ['cosine', 'softmax'] },
      text: modalityOptions,
      image: modalityOptions,
      level: LEVEL,
      mode: MODE,
      where: WHERE,
      diversity: DIVERSITY,
      rerank: RERANK,
    },
  },
  AskRequest: {
    allOf: [
      ref('SearchOptions'),
      {
        type: 'object',
        required: ['question'],
        properties: {
          question: { type: 'string', minLength: 1 },
          history: {
            type: 'array',
            maxItems: 100,
            description: 'the conversation so far, oldest first (the model sees it before the question)',
            items: {
              type: 'object',
              required: ['role', 'content'],
              properties: {
                role: { type: 'string', enum: ['user', 'assistant'] },
                content: { type: 'string' },
              },
            },
          },
          llm: {
            type: 'object',
            description:
              'the answering model for this question (a different provider uses its own default URL)',
            properties: {
              provider: { type: 'string', enum: ['auto', 'ollama', 'openai', 'none'] },
              model: { type: 'string' },
            },
          },
        },
      },
    ],
  },
  AskError: {
    type: 'object',
    required: ['code', 'message'],
    properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' } },
  },
  AskResult: {
    type: 'object',
    required: ['question', 'answer', 'sources', 'model', 'citations'],
    properties: {
      question: { type: 'string' },
      answer: { type: ['string', 'null'], description: 'null when no model answered (see error)' },
      sources: { type: 'array', items: ref('Hit'), description: 'numbered 1.. in this order' },
      model: { type: ['string', 'null'] },
      citations: { type: 'array', items: { type: 'integer' } },
      level: {
        type: 'integer',
        enum: [1, 2, 3],
        description: 'the level that answered (1: the model saw no pictures)',
      },
      error: ref('AskError'),
    },
  },
  Source: {
    type: 'object',
    required: ['id', 'name', 'source', 'type', 'items', 'textItems', 'imageItems', 'bytes', 'ingestedAt'],
    properties: {
      id: { type: 'string', description: 'use in /api/sources/{id}' },
      name: { type: 'string', description: 'the uploaded file name, or the path it was ingested from' },
      uploaded: { type: 'boolean' },
      source: { type: 'string' },
      type: { type: 'string' },
      hash: { type: 'string' },
      version: { type: 'string' },
      items: { type: 'integer' },
      textItems: { type: 'integer' },
      imageItems: { type: 'integer' },
      bytes: { type: 'integer' },
      ingestedAt: { type: 'integer', description: 'milliseconds since the epoch' },
    },
  },
  Item: {
    type: 'object',
    required: ['id', 'modality', 'type', 'source', 'title', 'section', 'text', 'ingestedAt'],
    properties: {
      id: { type: 'string' },
      modality: { type: 'string', enum: ['text', 'image'] },
      type: { type: 'string' },
      source: { type: 'string' },
      title: { type: 'string' },
      section: { type: 'string' },
      text: { type: 'string', description: 'the chunk (text) or the caption (picture)' },
      location: ref('Location'),
      ingestedAt: { type: 'integer' },
      mediaUrl: { type: 'string' },
    },
  },
  JobFile: {
    type: 'object',
    required: ['name', 'status', 'items', 'textItems', 'imageItems', 'warnings'],
    properties: {
      name: { type: 'string' },
      status: { type: 'string', enum: ['processing', 'ingested', 'unchanged', 'skipped', 'failed'] },
      type: { type: 'string' },
      items: { type: 'integer' },
      textItems: { type: 'integer' },
      imageItems: { type: 'integer' },
      warnings: { type: 'array', items: { type: 'string' } },
      reason: { type: 'string', description: 'why the file failed or was skipped' },
    },
  },
  Job: {
    type: 'object',
    required: ['id', 'status', 'createdAt', 'uploaded', 'files'],
    properties: {
      id: { type: 'string' },
      status: { type: 'string', enum: ['queued', 'running', 'done', 'failed'] },
      createdAt: { type: 'integer' },
      startedAt: { type: 'integer' },
      finishedAt: { type: 'integer' },
      uploaded: { type: 'integer' },
      total: { type: 'integer', description: 'files to process, known once the job runs' },
      files: { type: 'array', items: ref('JobFile') },
      summary: { type: 'object' },
      error: ref('AskError'),
    },
  },
};

const JOB_EVENTS =
  'events: `job` (data: the Job), `file` (data: {"index", "file": JobFile}) per file started or finished, then `done` (data: the final Job)';

/** The API description; `version` is the server's version. */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'mmrag HTTP API',
      version,
      description:
        'Ask your files: upload, search text and pictures, ask a multimodal LLM with sources. With a token, every call but /api/health needs `Authorization: Bearer <token>`.',
    },
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/health': {
        get: {
          summary: 'Liveness (never needs a token)',
          security: [],
          responses: {
            200: {
              description: 'up',
              content: json({
                type: 'object',
                required: ['status', 'version'],
                properties: { status: { type: 'string', enum: ['ok'] }, version: { type: 'string' } },
              }),
            },
          },
        },
      },
      '/api/openapi.json': {
        get: {
          summary: 'This document',
          responses: {
            200: { description: 'OpenAPI 3.1', content: json({ type: 'object' }) },
            401: ERRORS[401],
          },
        },
      },
      '/api/config': {
        get: {
          summary: 'The configuration without secrets, levels and limits',
          responses: {
            200: {
              description: 'config',
              content: json({
                type: 'object',
                required: ['version', 'config', 'levels', 'limits'],
                properties: {
                  version: { type: 'string' },
                  config: { type: 'object' },
                  embedModel: { type: 'string' },
                  levels: {
                    type: 'array',
                    items: { type: 'integer' },
                    description: 'levels a request may ask for',
                  },
                  level: { type: 'integer', description: 'the configured level' },
                  mode: {
                    type: 'string',
                    enum: ['hybrid', 'vector', 'bm25'],
                    description: 'the configured mode',
                  },
                  rerank: { type: 'boolean', description: 'whether a reranker is configured' },
                  tokenRequired: { type: 'boolean' },
                  urlIngest: { type: 'boolean' },
                  limits: { type: 'object' },
                },
              }),
            },
            401: ERRORS[401],
          },
        },
      },
      '/api/stats': {
        get: {
          summary: 'Counts of sources and items',
          responses: {
            200: {
              description: 'stats',
              content: json({
                type: 'object',
                properties: {
                  sources: { type: 'integer' },
                  textItems: { type: 'integer' },
                  imageItems: { type: 'integer' },
                  embedModel: { type: 'string' },
                  dim: { type: 'integer' },
                },
              }),
            },
            401: ERRORS[401],
          },
        },
      },
      '/api/ingest': {
        post: {
          summary: 'Upload files (and folders: give each file its relative path as the file name) to ingest',
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['files'],
                  properties: {
                    files: {
                      type: 'array',
                      items: { type: 'string', format: 'binary' },
                      description: 'one or more files; a file name may be a relative path (folder/page.html)',
                    },
                  },
                },
              },
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['urls'],
                  properties: {
                    urls: {
                      type: 'array',
                      minItems: 1,
                      maxItems: 100,
                      items: { type: 'string', format: 'uri' },
                      description:
                        'http(s) pages to fetch and ingest (private addresses refused unless allowed)',
                    },
                  },
                },
              },
            },
          },
          responses: {
            202: {
              description: 'queued; follow /api/jobs/{id}',
              content: json({
                type: 'object',
                required: ['id', 'status', 'uploaded'],
                properties: {
                  id: { type: 'string' },
                  status: { type: 'string' },
                  uploaded: { type: 'integer' },
                },
              }),
            },
            ...ERRORS,
            413: errorResponse('Too many files, a file too large, or the request too large.'),
          },
        },
      },
      '/api/jobs': {
        get: {
          summary: 'Ingest jobs since the server started, newest first',
          responses: {
            200: {
              description: 'jobs',
              content: json({ type: 'object', properties: { jobs: { type: 'array', items: ref('Job') } } }),
            },
            401: ERRORS[401],
          },
        },
      },
      '/api/jobs/{id}': {
        get: {
          summary: 'One job: status and per-file progress (with Accept: text/event-stream, a live stream)',
          parameters: [idParam('job id', '^[0-9a-f]+$')],
          responses: {
            200: {
              description: 'the job',
              content: { ...json(ref('Job')), ...eventStream(JOB_EVENTS) },
            },
            401: ERRORS[401],
            404: errorResponse('No such job.'),
          },
        },
      },
      '/api/jobs/{id}/events': {
        get: {
          summary: 'Live progress of one job as Server-Sent Events',
          parameters: [idParam('job id', '^[0-9a-f]+$')],
          responses: {
            200: { description: 'the event stream', content: eventStream(JOB_EVENTS) },
            401: ERRORS[401],
            404: errorResponse('No such job.'),
          },
        },
      },
      '/api/search': {
        get: {
          summary: 'Text and pictures most related to a text query (no LLM)',
          parameters: searchQueryParams,
          responses: {
            200: { description: 'hits per modality', content: json(ref('SearchResult')) },
            ...ERRORS,
          },
        },
        post: {
          summary:
            'Search by a picture (multipart field `image`), text (`q`), or both; or JSON {q, ...options}',
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  properties: {
                    image: {
                      type: 'string',
                      format: 'binary',
                      description: 'the query picture (level 3); read from memory, never written to disk',
                    },
                    q: { type: 'string' },
                    ...searchFieldSchemas,
                  },
                },
              },
              'application/json': {
                schema: {
                  allOf: [ref('SearchOptions'), { type: 'object', properties: { q: { type: 'string' } } }],
                },
              },
            },
          },
          responses: {
            200: { description: 'hits per modality', content: json(ref('SearchResult')) },
            ...ERRORS,
            413: errorResponse('The picture is too large.'),
          },
        },
      },
      '/api/ask': {
        post: {
          summary:
            'Answer a question from the retrieved text and pictures (with Accept: text/event-stream, streamed)',
          requestBody: { required: true, content: json(ref('AskRequest')) },
          responses: {
            200: {
              description:
                'the answer and its numbered sources; without any model, the sources and an error saying no model answered',
              content: {
                ...json(ref('AskResult')),
                ...eventStream(
                  'events: `token` (data: a piece of the answer) ..., `sources` (data: JSON array of Hit, numbered 1.. in order), `done` (data: {"model", "citations", "answer", "level", "error"?}); `error` (data: {"code", "message", "hint"?}) if retrieval failed',
                ),
              },
            },
            ...ERRORS,
            413: errorResponse('The request is too large.'),
          },
        },
      },
      '/api/sources': {
        get: {
          summary: 'Everything in the knowledge base, newest first',
          responses: {
            200: {
              description: 'sources',
              content: json({
                type: 'object',
                required: ['sources'],
                properties: { sources: { type: 'array', items: ref('Source') } },
              }),
            },
            401: ERRORS[401],
          },
        },
      },
      '/api/sources/{id}': {
        delete: {
          summary: 'Remove a source, its items and pictures (and its uploaded copy)',
          parameters: [idParam('source id from /api/sources', '^[0-9a-f]{16}$')],
          responses: {
            200: {
              description: 'removed',
              content: json({
                type: 'object',
                required: ['id', 'source', 'removed'],
                properties: {
                  id: { type: 'string' },
                  source: { type: 'string' },
                  removed: { type: 'integer' },
                },
              }),
            },
            ...ERRORS,
            404: errorResponse('No such source.'),
          },
        },
      },
      '/api/sources/{id}/items': {
        get: {
          summary: 'The items of one source, in order',
          parameters: [idParam('source id from /api/sources', '^[0-9a-f]{16}$')],
          responses: {
            200: {
              description: 'the source and its items',
              content: json({
                type: 'object',
                required: ['source', 'items'],
                properties: { source: ref('Source'), items: { type: 'array', items: ref('Item') } },
              }),
            },
            ...ERRORS,
            404: errorResponse('No such source.'),
          },
        },
      },
      '/api/items/{id}': {
        get: {
          summary: 'One item by id',
          parameters: [idParam('item id', '^[0-9a-f]{8,64}$')],
          responses: {
            200: { description: 'the item', content: json(ref('Item')) },
            ...ERRORS,
            404: errorResponse('No such item.'),
          },
        },
      },
      '/api/media/{id}': {
        get: {
          summary: 'The stored picture (or video frame) of an item, by item id only',
          parameters: [idParam('item id', '^[0-9a-f]{8,64}$')],
          responses: {
            200: {
              description: 'the picture',
              content: {
                'image/png': { schema: { type: 'string', format: 'binary' } },
                'image/jpeg': { schema: { type: 'string', format: 'binary' } },
                'image/webp': { schema: { type: 'string', format: 'binary' } },
                'image/gif': { schema: { type: 'string', format: 'binary' } },
              },
            },
            304: { description: 'not modified (If-None-Match)' },
            ...ERRORS,
            404: errorResponse('No such item, or the item has no picture.'),
          },
        },
      },
    },
  };
}
